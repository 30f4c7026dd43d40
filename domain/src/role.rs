//! Who an account is on the platform.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The four roles. `Operator` runs the platform and belongs to no tenant; the others are
/// scoped to one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Operator,
    SuperAdmin,
    Admin,
    Agent,
}

impl Role {
    pub const TENANT_ROLES: [Role; 3] = [Role::SuperAdmin, Role::Admin, Role::Agent];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::SuperAdmin => "super_admin",
            Role::Admin => "admin",
            Role::Agent => "agent",
        }
    }

    pub fn is_tenant_role(self) -> bool {
        self != Role::Operator
    }

    /// Whether an account with this role may create or change an account with `other`.
    /// Admins manage agents; only super admins manage admins and other super admins.
    pub fn may_manage(self, other: Role) -> bool {
        match self {
            Role::SuperAdmin => other.is_tenant_role(),
            Role::Admin => other == Role::Agent,
            Role::Operator | Role::Agent => false,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown role `{0}`: use super_admin, admin or agent")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "operator" => Ok(Role::Operator),
            "super_admin" => Ok(Role::SuperAdmin),
            "admin" => Ok(Role::Admin),
            "agent" => Ok(Role::Agent),
            other => Err(UnknownRole(other.to_string())),
        }
    }
}

impl TryFrom<String> for Role {
    type Error = UnknownRole;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in [Role::Operator, Role::SuperAdmin, Role::Admin, Role::Agent] {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn admins_manage_agents_but_not_other_admins() {
        assert!(Role::Admin.may_manage(Role::Agent));
        assert!(!Role::Admin.may_manage(Role::Admin));
        assert!(!Role::Admin.may_manage(Role::SuperAdmin));
        assert!(Role::SuperAdmin.may_manage(Role::Admin));
        assert!(!Role::Agent.may_manage(Role::Agent));
        assert!(!Role::SuperAdmin.may_manage(Role::Operator));
    }
}
