//! Logging in and out, tokens, password changes and kicks.

use crate::{password, token};
use kefu_bus::Bus;
use kefu_domain::clock::{HOUR, MINUTE, Millis};
use kefu_domain::event::{Event, topic};
use kefu_domain::password::PasswordError;
use kefu_domain::{AccountId, Clock, TenantId};
use kefu_store::{Account, NewAuditEntry, NewSession, Store, StoreError};
use std::sync::Arc;

/// The timing rules of logins. Defaults follow the product: a login is live for 2 minutes
/// after its last request or heartbeat, a token lasts 24 hours after its last use, and 5
/// failures lock an account for a minute.
#[derive(Debug, Clone)]
pub struct Settings {
    pub live_for: Millis,
    pub token_idle: Millis,
    pub max_failures_per_account: i64,
    pub max_failures_per_ip: i64,
    pub lock_for: Millis,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            live_for: 2 * MINUTE,
            token_idle: 24 * HOUR,
            max_failures_per_account: 5,
            // An office behind one address has many people; give it more room.
            max_failures_per_ip: 20,
            lock_for: MINUTE,
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub session_id: i64,
    pub account: Account,
    pub ip: String,
}

impl Principal {
    pub fn tenant(&self) -> Option<TenantId> {
        self.account.tenant_id
    }
}

#[derive(Debug)]
pub struct LoginOutcome {
    pub token: String,
    pub account: Account,
    pub session_id: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("wrong tenant, username or password")]
    InvalidCredentials,
    #[error("too many failed logins; try again in {0} seconds")]
    Throttled(i64),
    #[error(
        "this account is already logged in on another device; log out there, or ask an admin to kick that login"
    )]
    AlreadyLoggedIn,
    #[error("{0}")]
    Disabled(&'static str),
    #[error("the current password is wrong")]
    WrongPassword,
    #[error("{0}")]
    Policy(#[from] PasswordError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where a request came from, for throttling and the audit log.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub ip: String,
    pub user_agent: String,
}

pub struct Logins {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    clock: Arc<dyn Clock>,
    settings: Settings,
}

impl Logins {
    pub fn new(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        clock: Arc<dyn Clock>,
        settings: Settings,
    ) -> Self {
        Self {
            store,
            bus,
            clock,
            settings,
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Logs in. `tenant` is the tenant code, or `None` for an operator.
    pub async fn login(
        &self,
        tenant: Option<&str>,
        username: &str,
        pass: &str,
        origin: &Origin,
    ) -> Result<LoginOutcome, LoginError> {
        let now = self.clock.now();
        let account_key = format!("acct:{}:{}", tenant.unwrap_or("-"), username.to_lowercase());
        let ip_key = format!("ip:{}", origin.ip);
        for key in [&account_key, &ip_key] {
            if let Some(until) = self.store.throttle_locked_until(key, now).await? {
                return Err(LoginError::Throttled(seconds_until(until, now)));
            }
        }

        let tenant_row = match tenant {
            Some(code) => match self.store.find_tenant_by_code(code).await? {
                Some(t) => Some(t),
                None => {
                    return self
                        .fail(
                            None,
                            username,
                            &account_key,
                            &ip_key,
                            origin,
                            "unknown tenant",
                        )
                        .await;
                }
            },
            None => None,
        };
        let tenant_id = tenant_row.as_ref().map(|t| t.id);
        let account = self.store.find_login(tenant_id, username).await?;
        let hash = account
            .as_ref()
            .map(|a| a.password_hash.as_str())
            .unwrap_or(password::decoy());
        let verified = password::verify(pass, hash);
        let Some(account) = account.filter(|_| verified) else {
            return self
                .fail(
                    tenant_id,
                    username,
                    &account_key,
                    &ip_key,
                    origin,
                    "wrong password",
                )
                .await;
        };
        self.store.throttle_clear(&account_key).await?;

        if tenant_row.as_ref().is_some_and(|t| t.disabled) {
            return Err(LoginError::Disabled(
                "this tenant is disabled; contact the platform operator",
            ));
        }
        if account.disabled {
            return Err(LoginError::Disabled(
                "this account is disabled; ask your administrator to enable it",
            ));
        }

        let (token, token_hash) = token::issue();
        let session = self
            .store
            .open_session(
                NewSession {
                    tenant_id,
                    account_id: account.id,
                    token_hash,
                    ip: origin.ip.clone(),
                    user_agent: origin.user_agent.clone(),
                    now,
                },
                now - self.settings.live_for,
            )
            .await
            .map_err(|e| match e {
                StoreError::AlreadyLoggedIn => LoginError::AlreadyLoggedIn,
                e => e.into(),
            })?;
        self.audit(
            tenant_id,
            Some(&account),
            "login",
            &account.username,
            "",
            &origin.ip,
        )
        .await;
        Ok(LoginOutcome {
            token,
            account,
            session_id: session.id,
        })
    }

    async fn fail(
        &self,
        tenant: Option<TenantId>,
        username: &str,
        account_key: &str,
        ip_key: &str,
        origin: &Origin,
        why: &str,
    ) -> Result<LoginOutcome, LoginError> {
        let now = self.clock.now();
        let s = &self.settings;
        let a = self
            .store
            .throttle_fail(account_key, s.max_failures_per_account, s.lock_for, now)
            .await?;
        let b = self
            .store
            .throttle_fail(ip_key, s.max_failures_per_ip, s.lock_for, now)
            .await?;
        let mut entry = audit_entry(tenant, None, "login_failed", username, why, &origin.ip, now);
        entry.actor = username.to_string();
        self.record(entry).await;
        match a.or(b) {
            Some(until) => Err(LoginError::Throttled(seconds_until(until, now))),
            None => Err(LoginError::InvalidCredentials),
        }
    }

    /// The caller behind a bearer token, if the token is open and was used within the idle
    /// limit. Using it keeps the login live.
    pub async fn authenticate(
        &self,
        bearer: &str,
        ip: &str,
    ) -> Result<Option<Principal>, StoreError> {
        let now = self.clock.now();
        let found = self
            .store
            .authenticate(&token::digest(bearer), now - self.settings.token_idle, now)
            .await?;
        Ok(found.map(|(session, account)| Principal {
            session_id: session.id,
            account,
            ip: ip.to_string(),
        }))
    }

    pub async fn logout(&self, who: &Principal) -> Result<(), StoreError> {
        let now = self.clock.now();
        self.store
            .revoke_session(who.session_id, "logout", now)
            .await?;
        self.announce(who.tenant(), who.account.id, who.session_id, "logout")
            .await;
        self.audit(
            who.tenant(),
            Some(&who.account),
            "logout",
            &who.account.username,
            "",
            &who.ip,
        )
        .await;
        Ok(())
    }

    /// Changes the caller's own password after checking the current one.
    pub async fn change_password(
        &self,
        who: &Principal,
        old: &str,
        new: &str,
    ) -> Result<(), LoginError> {
        if !password::verify(old, &who.account.password_hash) {
            return Err(LoginError::WrongPassword);
        }
        if old == new {
            return Err(PasswordError::Unchanged.into());
        }
        kefu_domain::password::check(new, &who.account.email)?;
        let now = self.clock.now();
        self.store
            .set_password(
                who.tenant(),
                who.account.id,
                &password::hash(new),
                false,
                now,
            )
            .await?;
        self.audit(
            who.tenant(),
            Some(&who.account),
            "password_change",
            &who.account.username,
            "",
            &who.ip,
        )
        .await;
        Ok(())
    }

    /// Ends every login of `target` at once and tells its realtime connections to close.
    pub async fn kick(
        &self,
        by: &Principal,
        tenant: TenantId,
        target: &Account,
    ) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let ids = self
            .store
            .revoke_account_sessions(Some(tenant), target.id, "kicked", now)
            .await?;
        for id in &ids {
            self.announce(Some(tenant), target.id, *id, "kicked").await;
        }
        self.audit(
            Some(tenant),
            Some(&by.account),
            "kick",
            &target.username,
            &format!("{} session(s)", ids.len()),
            &by.ip,
        )
        .await;
        Ok(ids.len())
    }

    /// Ends every login of an account whose password was reset or that was deleted.
    pub async fn end_all(
        &self,
        tenant: TenantId,
        account: AccountId,
        reason: &str,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        for id in self
            .store
            .revoke_account_sessions(Some(tenant), account, reason, now)
            .await?
        {
            self.announce(Some(tenant), account, id, reason).await;
        }
        Ok(())
    }

    async fn announce(
        &self,
        tenant: Option<TenantId>,
        account: AccountId,
        session: i64,
        reason: &str,
    ) {
        let event = Event::SessionRevoked {
            tenant_id: tenant,
            account_id: account,
            session_id: session,
            reason: reason.into(),
        };
        if let Err(e) = self.bus.publish(topic::SESSIONS, &event).await {
            // The session is already revoked in the database; only the push is lost.
            tracing::warn!(error = %e, "could not announce a revoked session");
        }
    }

    /// Records an audit entry by `actor`.
    pub async fn audit(
        &self,
        tenant: Option<TenantId>,
        actor: Option<&Account>,
        action: &str,
        target: &str,
        detail: &str,
        ip: &str,
    ) {
        let mut entry = audit_entry(
            tenant,
            actor.map(|a| a.id),
            action,
            target,
            detail,
            ip,
            self.clock.now(),
        );
        entry.actor = actor.map(|a| a.username.clone()).unwrap_or_default();
        self.record(entry).await;
    }

    async fn record(&self, entry: NewAuditEntry) {
        if let Err(e) = self.store.record_audit(entry).await {
            tracing::error!(error = %e, "writing the audit log failed");
        }
    }
}

fn audit_entry(
    tenant: Option<TenantId>,
    actor: Option<AccountId>,
    action: &str,
    target: &str,
    detail: &str,
    ip: &str,
    now: Millis,
) -> NewAuditEntry {
    NewAuditEntry {
        tenant_id: tenant,
        actor_id: actor,
        actor: String::new(),
        action: action.into(),
        target: target.into(),
        detail: detail.into(),
        ip: ip.into(),
        created_at: now,
    }
}

/// Whole seconds from `now` to `until`, at least 1.
fn seconds_until(until: Millis, now: Millis) -> i64 {
    ((until - now + 999) / 1000).max(1)
}
