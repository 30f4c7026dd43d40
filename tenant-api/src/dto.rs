//! Request and response bodies. Domain values are converted here, at the edge.

use kefu_domain::Role;
use kefu_store::{Account, AuditEntry, LiveLogin, SeatUsage, Tenant};
use poem_openapi::{Enum, Object};

/// A tenant role. Operators are not created through the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ApiRole {
    Operator,
    SuperAdmin,
    Admin,
    Agent,
}

impl From<Role> for ApiRole {
    fn from(r: Role) -> Self {
        match r {
            Role::Operator => Self::Operator,
            Role::SuperAdmin => Self::SuperAdmin,
            Role::Admin => Self::Admin,
            Role::Agent => Self::Agent,
        }
    }
}

impl From<ApiRole> for Role {
    fn from(r: ApiRole) -> Self {
        match r {
            ApiRole::Operator => Self::Operator,
            ApiRole::SuperAdmin => Self::SuperAdmin,
            ApiRole::Admin => Self::Admin,
            ApiRole::Agent => Self::Agent,
        }
    }
}

/// A tenant (supplier) and its plan. Times are milliseconds since the Unix epoch.
#[derive(Debug, Clone, Object)]
pub struct TenantDto {
    pub id: i64,
    pub code: String,
    pub name: String,
    /// Seats that may exist, not counting the owner.
    pub max_accounts: i64,
    /// Seats that may be online at once.
    pub max_online: i64,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// Seats in use, not counting the owner.
    #[oai(skip_serializing_if_is_none)]
    pub accounts_used: Option<i64>,
}

impl From<Tenant> for TenantDto {
    fn from(t: Tenant) -> Self {
        Self {
            id: t.id.0,
            code: t.code,
            name: t.name,
            max_accounts: t.max_accounts,
            max_online: t.max_online,
            disabled: t.disabled,
            created_at: t.created_at,
            updated_at: t.updated_at,
            accounts_used: None,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct AccountDto {
    pub id: i64,
    /// Absent for platform operators.
    pub tenant_id: Option<i64>,
    pub username: String,
    pub display_name: String,
    pub real_name: String,
    pub phone: String,
    pub email: String,
    pub role: ApiRole,
    pub must_change_password: bool,
    /// The tenant's first super admin: does not use a seat, cannot be deleted or demoted.
    pub is_owner: bool,
    pub disabled: bool,
    pub skill_group_ids: Vec<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<Account> for AccountDto {
    fn from(a: Account) -> Self {
        Self {
            id: a.id.0,
            tenant_id: a.tenant_id.map(|t| t.0),
            username: a.username,
            display_name: a.display_name,
            real_name: a.real_name,
            phone: a.phone,
            email: a.email,
            role: a.role.into(),
            must_change_password: a.must_change_password,
            is_owner: a.is_owner,
            disabled: a.disabled,
            skill_group_ids: a.skill_group_ids.into_iter().map(|g| g.0).collect(),
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

/// The plan and how much of it is used, e.g. "2 / 2 seats".
#[derive(Debug, Clone, Object)]
pub struct PlanUsage {
    pub accounts_used: i64,
    pub max_accounts: i64,
    pub max_online: i64,
    /// Agents online now, e.g. "1 / 2 online".
    pub online: i64,
    /// Whether another seat can be created now.
    pub can_add_account: bool,
}

impl PlanUsage {
    pub fn new(u: SeatUsage, online: i64) -> Self {
        Self {
            accounts_used: u.accounts,
            max_accounts: u.max_accounts,
            max_online: u.max_online,
            online,
            can_add_account: u.accounts < u.max_accounts,
        }
    }
}

/// A live login, for the kick list (剔除登录).
#[derive(Debug, Clone, Object)]
pub struct LiveLoginDto {
    pub session_id: i64,
    pub account_id: i64,
    pub username: String,
    pub display_name: String,
    pub role: ApiRole,
    pub ip: String,
    pub user_agent: String,
    pub logged_in_at: i64,
    pub last_seen_at: i64,
}

impl From<LiveLogin> for LiveLoginDto {
    fn from(l: LiveLogin) -> Self {
        Self {
            session_id: l.session.id,
            account_id: l.session.account_id.0,
            username: l.username,
            display_name: l.display_name,
            role: l.role.into(),
            ip: l.session.ip,
            user_agent: l.session.user_agent,
            logged_in_at: l.session.created_at,
            last_seen_at: l.session.last_seen_at,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct AuditEntryDto {
    pub id: i64,
    pub actor: String,
    pub actor_id: Option<i64>,
    /// login, login_failed, logout, kick, password_change, password_reset, account_create,
    /// account_update, account_delete, account_import, tenant_create, tenant_update.
    pub action: String,
    pub target: String,
    pub detail: String,
    pub ip: String,
    pub created_at: i64,
}

impl From<AuditEntry> for AuditEntryDto {
    fn from(e: AuditEntry) -> Self {
        Self {
            id: e.id,
            actor: e.actor,
            actor_id: e.actor_id.map(|a| a.0),
            action: e.action,
            target: e.target,
            detail: e.detail,
            ip: e.ip,
            created_at: e.created_at,
        }
    }
}

/// A page of the audit log, newest first. Pass `next_before` as `before` for the next page.
#[derive(Debug, Clone, Object)]
pub struct AuditPage {
    pub entries: Vec<AuditEntryDto>,
    pub next_before: Option<i64>,
}

impl AuditPage {
    pub fn new(entries: Vec<AuditEntry>, limit: i64) -> Self {
        let next_before = if entries.len() as i64 == limit {
            entries.last().map(|e| e.id)
        } else {
            None
        };
        Self {
            entries: entries.into_iter().map(Into::into).collect(),
            next_before,
        }
    }
}
