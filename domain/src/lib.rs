//! Kefu's domain: identifiers, roles, plans, validated values and the clock.
//!
//! This crate does no I/O. CI checks that it never depends on sqlx, poem or redis, so that
//! every other crate can lean on it without pulling in a runtime.

pub mod clock;
pub mod cs;
pub mod elements;
pub mod event;
pub mod flow;
pub mod ids;
pub mod moderation;
pub mod password;
pub mod role;
pub mod schedule;
pub mod secret;
pub mod settings;
pub mod validate;

pub use clock::{Clock, ManualClock, SystemClock};
pub use ids::{AccountId, SkillGroupId, TenantId};
pub use role::Role;

/// How accounts and tenants are named inside the authorization policy.
pub mod authz {
    use crate::{AccountId, TenantId};

    /// The policy subject for an account: `account:{id}`.
    pub fn subject(id: AccountId) -> String {
        format!("account:{id}")
    }

    /// The policy domain: `tenant:{id}`, or `platform` for operators.
    pub fn domain(tenant: Option<TenantId>) -> String {
        match tenant {
            Some(t) => format!("tenant:{t}"),
            None => "platform".to_string(),
        }
    }
}
