//! Uploaded media. [`inspect`] decides what a file is from its bytes (never its name), makes
//! the large and thumbnail versions of images and measures voice; [`objects`] keeps the bytes
//! on local disk or in S3 behind one interface. Who may upload and read is the gateway's
//! business, not this crate's.

pub mod inspect;
pub mod links;
pub mod objects;
pub mod testing;

pub use inspect::{Image, Kind, MediaError, Upload, Variant, Voice, inspect};
pub use objects::{LocalDisk, Object, ObjectError, ObjectStore, S3Settings, S3Store};
