//! Authorization with casbin, RBAC with domains: the domain is the tenant.
//!
//! Role assignments (`g` rules) are written by the account store in the same transaction as
//! the account itself; the permissions of each role (`p` rules) are defined here and written
//! to the store at start. Every node keeps an enforcer in memory and reloads it when a
//! `PolicyChanged` event arrives on the bus. A denial reloads once (at most every second)
//! before it is final, which covers the moment between another node's write and its event.

use async_trait::async_trait;
use casbin::{Adapter, CoreApi, DefaultModel, Enforcer, Filter, MgmtApi, Model};
use futures::StreamExt;
use kefu_bus::Bus;
use kefu_domain::clock::Millis;
use kefu_domain::event::{Event, topic};
use kefu_domain::{Clock, authz};
use kefu_store::{Account, PolicyRule, Store};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use tokio::sync::RwLock;

const MODEL: &str = r#"
[request_definition]
r = sub, dom, obj, act

[policy_definition]
p = sub, dom, obj, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub, r.dom) && keyMatch(r.dom, p.dom) && r.obj == p.obj && (r.act == p.act || p.act == "*")
"#;

/// Resources that routes protect. Each route checks one (object, action) pair.
pub mod object {
    pub const TENANTS: &str = "tenants";
    pub const ACCOUNTS: &str = "accounts";
    pub const LOGINS: &str = "logins";
    pub const AUDIT: &str = "audit";
    /// The platform's own audit log. Distinct from `AUDIT` so that a tenant role's
    /// permission on its audit log never reaches the platform's.
    pub const PLATFORM_AUDIT: &str = "platform_audit";
    pub const SKILL_GROUPS: &str = "skill_groups";
    /// The tenant's IM app (SDKAppID, admin identifiers, service accounts).
    pub const IM_APP: &str = "im_app";
    /// The IM app's secret key: reading or rotating it.
    pub const IM_SECRET: &str = "im_secret";
    /// Conversations the caller serves or may take.
    pub const CONVERSATIONS: &str = "conversations";
    /// Every conversation of the tenant and who is queued.
    pub const ALL_CONVERSATIONS: &str = "all_conversations";
    /// The caller's own online/suspended status.
    pub const AGENT_STATUS: &str = "agent_status";
    /// The tenant's service settings (timeouts, ratings, categories required…).
    pub const SERVICE_SETTINGS: &str = "service_settings";
    /// The consultation category and message tag trees.
    pub const TREES: &str = "trees";
    /// Tags put on messages, and searching them.
    pub const MESSAGE_TAGS: &str = "message_tags";
    /// The FAQ and the knowledge base (quick replies).
    pub const KNOWLEDGE: &str = "knowledge";
    /// Service flows, the time plan and sensitive words.
    pub const BOT: &str = "bot";
}

pub mod action {
    pub const READ: &str = "read";
    pub const WRITE: &str = "write";
}

/// What each role may do: (role, domain pattern, object, action).
const PERMISSIONS: &[[&str; 4]] = &[
    ["operator", "platform", object::TENANTS, "*"],
    ["operator", "platform", object::PLATFORM_AUDIT, action::READ],
    ["super_admin", "tenant:*", object::ACCOUNTS, "*"],
    ["super_admin", "tenant:*", object::LOGINS, "*"],
    ["super_admin", "tenant:*", object::AUDIT, action::READ],
    ["super_admin", "tenant:*", object::SKILL_GROUPS, "*"],
    ["super_admin", "tenant:*", object::IM_APP, "*"],
    ["super_admin", "tenant:*", object::IM_SECRET, "*"],
    ["admin", "tenant:*", object::ACCOUNTS, "*"],
    ["admin", "tenant:*", object::LOGINS, "*"],
    ["admin", "tenant:*", object::AUDIT, action::READ],
    ["admin", "tenant:*", object::SKILL_GROUPS, "*"],
    ["admin", "tenant:*", object::IM_APP, "*"],
    ["agent", "tenant:*", object::SKILL_GROUPS, action::READ],
    ["super_admin", "tenant:*", object::CONVERSATIONS, "*"],
    ["super_admin", "tenant:*", object::ALL_CONVERSATIONS, "*"],
    ["super_admin", "tenant:*", object::AGENT_STATUS, "*"],
    ["admin", "tenant:*", object::CONVERSATIONS, "*"],
    ["admin", "tenant:*", object::ALL_CONVERSATIONS, "*"],
    ["admin", "tenant:*", object::AGENT_STATUS, "*"],
    ["agent", "tenant:*", object::CONVERSATIONS, "*"],
    ["agent", "tenant:*", object::AGENT_STATUS, "*"],
    ["super_admin", "tenant:*", object::SERVICE_SETTINGS, "*"],
    ["super_admin", "tenant:*", object::TREES, "*"],
    ["super_admin", "tenant:*", object::MESSAGE_TAGS, "*"],
    ["admin", "tenant:*", object::SERVICE_SETTINGS, "*"],
    ["admin", "tenant:*", object::TREES, "*"],
    ["admin", "tenant:*", object::MESSAGE_TAGS, "*"],
    // Agents read the settings and trees their end and tag dialogs need.
    ["agent", "tenant:*", object::SERVICE_SETTINGS, action::READ],
    ["agent", "tenant:*", object::TREES, action::READ],
    ["agent", "tenant:*", object::MESSAGE_TAGS, "*"],
    ["super_admin", "tenant:*", object::KNOWLEDGE, "*"],
    ["super_admin", "tenant:*", object::BOT, "*"],
    ["admin", "tenant:*", object::KNOWLEDGE, "*"],
    ["admin", "tenant:*", object::BOT, "*"],
    // Agents read the knowledge base of their groups for quick replies, and count uses.
    ["agent", "tenant:*", object::KNOWLEDGE, action::READ],
];

pub struct Authorizer {
    enforcer: RwLock<Enforcer>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    last_reload: AtomicI64,
}

impl Authorizer {
    /// Writes the role permissions to the store and loads the whole policy.
    pub async fn start(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Self>, casbin::Error> {
        let rules: Vec<PolicyRule> = PERMISSIONS
            .iter()
            .map(|p| PolicyRule::new("p", p))
            .collect();
        store
            .replace_policy_rules("p", &rules)
            .await
            .map_err(|e| casbin::Error::AdapterError(casbin::error::AdapterError(Box::new(e))))?;
        let model = DefaultModel::from_str(MODEL).await?;
        let enforcer = Enforcer::new(model, StoreAdapter(store.clone())).await?;
        Ok(Arc::new(Self {
            enforcer: RwLock::new(enforcer),
            store,
            clock,
            last_reload: AtomicI64::new(0),
        }))
    }

    /// Reloads on every `PolicyChanged` on the bus, until the bus subscription ends.
    pub async fn follow(
        self: &Arc<Self>,
        bus: &dyn Bus,
    ) -> Result<tokio::task::JoinHandle<()>, kefu_bus::BusError> {
        let mut events = bus.subscribe(topic::POLICY).await?;
        let me = self.clone();
        Ok(tokio::spawn(async move {
            while let Some(event) = events.next().await {
                if event == Event::PolicyChanged {
                    me.reload().await;
                }
            }
        }))
    }

    pub async fn reload(&self) {
        self.last_reload.store(self.clock.now(), Ordering::SeqCst);
        if let Err(e) = self.enforcer.write().await.load_policy().await {
            tracing::error!(error = %e, "reloading the authorization policy failed");
        }
    }

    /// Whether `account` may do `action` on `object` in its own domain.
    pub async fn allows(&self, account: &Account, object: &str, action: &str) -> bool {
        let request = (
            authz::subject(account.id),
            authz::domain(account.tenant_id),
            object.to_string(),
            action.to_string(),
        );
        if self.check(&request).await {
            return true;
        }
        let now: Millis = self.clock.now();
        let last = self.last_reload.load(Ordering::SeqCst);
        if now - last >= 1_000
            && self
                .last_reload
                .compare_exchange(last, now, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        {
            self.reload().await;
            return self.check(&request).await;
        }
        false
    }

    async fn check(&self, request: &(String, String, String, String)) -> bool {
        let enforcer = self.enforcer.read().await;
        match enforcer.enforce(request.clone()) {
            Ok(allowed) => allowed,
            Err(e) => {
                tracing::error!(error = %e, "policy evaluation failed; denying");
                false
            }
        }
    }

    /// The `p` rules currently loaded, for tests and diagnostics.
    pub async fn permissions(&self) -> Vec<Vec<String>> {
        self.enforcer.read().await.get_policy()
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }
}

/// casbin's adapter over [`Store`]. Only loading is used: rules are written by the stores
/// (role assignments in the account transaction, permissions at start), never through the
/// enforcer, so the enforcer's write path reports that plainly instead of writing.
struct StoreAdapter(Arc<dyn Store>);

fn read_only() -> casbin::Error {
    casbin::Error::AdapterError(casbin::error::AdapterError(
        "policy rules are written by Kefu's stores, not through the enforcer".into(),
    ))
}

#[async_trait]
impl Adapter for StoreAdapter {
    async fn load_policy(&mut self, m: &mut dyn Model) -> casbin::Result<()> {
        let rules =
            self.0.load_policy_rules().await.map_err(|e| {
                casbin::Error::AdapterError(casbin::error::AdapterError(Box::new(e)))
            })?;
        for rule in rules {
            let sec = &rule.ptype[..1];
            if let Some(assertion) = m
                .get_mut_model()
                .get_mut(sec)
                .and_then(|s| s.get_mut(&rule.ptype))
            {
                assertion.get_mut_policy().insert(rule.values);
            }
        }
        Ok(())
    }

    async fn load_filtered_policy<'a>(
        &mut self,
        m: &mut dyn Model,
        _f: Filter<'a>,
    ) -> casbin::Result<()> {
        self.load_policy(m).await
    }

    async fn save_policy(&mut self, _m: &mut dyn Model) -> casbin::Result<()> {
        Err(read_only())
    }

    async fn clear_policy(&mut self) -> casbin::Result<()> {
        Err(read_only())
    }

    fn is_filtered(&self) -> bool {
        false
    }

    async fn add_policy(
        &mut self,
        _sec: &str,
        _ptype: &str,
        _rule: Vec<String>,
    ) -> casbin::Result<bool> {
        Err(read_only())
    }

    async fn add_policies(
        &mut self,
        _sec: &str,
        _ptype: &str,
        _rules: Vec<Vec<String>>,
    ) -> casbin::Result<bool> {
        Err(read_only())
    }

    async fn remove_policy(
        &mut self,
        _sec: &str,
        _ptype: &str,
        _rule: Vec<String>,
    ) -> casbin::Result<bool> {
        Err(read_only())
    }

    async fn remove_policies(
        &mut self,
        _sec: &str,
        _ptype: &str,
        _rules: Vec<Vec<String>>,
    ) -> casbin::Result<bool> {
        Err(read_only())
    }

    async fn remove_filtered_policy(
        &mut self,
        _sec: &str,
        _ptype: &str,
        _field_index: usize,
        _field_values: Vec<String>,
    ) -> casbin::Result<bool> {
        Err(read_only())
    }
}
