//! Who is calling and what they may do: password hashing, login sessions with their bearer
//! tokens, failed-login throttling, and casbin authorization with domains (one domain per
//! tenant, `platform` for operators).

pub mod authz;
pub mod login;
pub mod password;
pub mod token;

pub use authz::Authorizer;
pub use login::{LoginError, LoginOutcome, Logins, Origin, Principal, Settings};
