//! Typed identifiers, so that a tenant id can never be passed where an account id is meant.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A supplier on the platform. Every tenant-owned row carries one.
    TenantId
);
id_type!(
    /// A seat or an operator.
    AccountId
);
id_type!(
    /// A skill group (技能组) inside one tenant.
    SkillGroupId
);

macro_rules! from_i64 {
    ($($name:ident),*) => {$(
        impl From<i64> for $name {
            fn from(v: i64) -> Self {
                Self(v)
            }
        }
    )*};
}
from_i64!(TenantId, AccountId, SkillGroupId);
