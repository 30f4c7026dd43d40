//! SQL shared by both backends. Each module defines a macro that implements one store trait
//! for a store type with a `pool` field; `sqlite.rs` and `postgres.rs` invoke them. Only SQL
//! that SQLite and PostgreSQL read the same way belongs here: `$n` placeholders, `returning`,
//! `on conflict`, partial indexes.

pub(crate) mod accounts;
pub(crate) mod append;
pub(crate) mod bot;
pub(crate) mod callbacks;
pub(crate) mod conversations;
pub(crate) mod im;
pub(crate) mod messages;
pub(crate) mod misc;
pub(crate) mod reports;
pub(crate) mod rows;
pub(crate) mod service;
pub(crate) mod sessions;
pub(crate) mod tenants;
pub(crate) mod trees;
