//! Short-lived, process-wide copies of per-tenant data read on every message: the IM app
//! (its key, admins, service accounts and callback), which IM accounts exist, the tenant's
//! service settings, the compiled sensitive words, the FAQ, and published flow versions.
//!
//! The database stays the source of truth. Apps, words and the FAQ are re-read at most
//! [`TTL`] after they were cached, so a change made on another node applies within that; the
//! node that made it forgets its copy at once ([`forget`], [`forget_im_app`],
//! [`forget_im_account`], [`forget_service_settings`]). An account is remembered only as existing: a new account is seen
//! at once, a deleted one stops receiving within [`TTL`] on other nodes. Flow versions never change once
//! published, so they are kept for as long as the process runs (bounded by [`MAX_FLOWS`]).
//!
//! Entries are keyed by the store they came from as well as the tenant: each holds a weak
//! reference to its store, which keeps that store's address from being reused, so two
//! databases in one process (the tests) never see each other's data.

use kefu_domain::TenantId;
use kefu_domain::flow::Flow;
use kefu_domain::moderation::Filter;
use kefu_domain::settings::ServiceSettings;
use kefu_store::{ImApp, KnowledgeEntry, Store};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

/// How long a node trusts its copy of a tenant's words and FAQ.
pub const TTL: Duration = Duration::from_secs(5);

/// Published flow versions kept parsed.
const MAX_FLOWS: usize = 4096;

type Key = (usize, i64);

struct Entry<V> {
    store: Weak<dyn Store>,
    at: Instant,
    value: Arc<V>,
}

struct Table<V> {
    entries: Mutex<HashMap<Key, Entry<V>>>,
}

impl<V> Table<V> {
    fn new() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, store: &Arc<dyn Store>, key: i64, ttl: Option<Duration>) -> Option<Arc<V>> {
        let map = self.entries.lock().expect("cache lock");
        let e = map.get(&(address(store), key))?;
        let fresh = ttl.is_none_or(|ttl| e.at.elapsed() < ttl);
        (fresh && e.store.strong_count() > 0).then(|| e.value.clone())
    }

    fn put(&self, store: &Arc<dyn Store>, key: i64, value: Arc<V>, cap: usize) {
        let mut map = self.entries.lock().expect("cache lock");
        if map.len() >= cap {
            map.retain(|_, e| e.store.strong_count() > 0);
            if map.len() >= cap {
                map.clear();
            }
        }
        map.insert(
            (address(store), key),
            Entry {
                store: Arc::downgrade(store),
                at: Instant::now(),
                value,
            },
        );
    }

    /// The cached value of `key`, or what `load` reads (kept when it finds something).
    async fn get_or_load(
        &self,
        store: &Arc<dyn Store>,
        key: i64,
        ttl: Option<Duration>,
        cap: usize,
        load: impl Future<Output = kefu_store::Result<Option<V>>>,
    ) -> kefu_store::Result<Option<Arc<V>>> {
        if let Some(v) = self.get(store, key, ttl) {
            return Ok(Some(v));
        }
        let Some(v) = load.await? else {
            return Ok(None);
        };
        let v = Arc::new(v);
        self.put(store, key, v.clone(), cap);
        Ok(Some(v))
    }

    fn remove(&self, store: &Arc<dyn Store>, key: i64) {
        self.entries
            .lock()
            .expect("cache lock")
            .remove(&(address(store), key));
    }
}

/// A process-wide table of `$ty` values, created on first use.
macro_rules! table {
    ($name:ident, $ty:ty) => {
        fn $name() -> &'static Table<$ty> {
            static T: OnceLock<Table<$ty>> = OnceLock::new();
            T.get_or_init(Table::new)
        }
    };
}

fn address(store: &Arc<dyn Store>) -> usize {
    Arc::as_ptr(store) as *const () as usize
}

table!(apps, ImApp);

// Apps by SDKAppID, for REST calls, which name the app rather than the tenant.
table!(apps_by_sdk, ImApp);

type AccountKey = (usize, i64, String);
type Accounts = Mutex<HashMap<AccountKey, (Weak<dyn Store>, Instant)>>;

/// IM accounts known to exist, with when that was read.
fn accounts() -> &'static Accounts {
    static T: OnceLock<Accounts> = OnceLock::new();
    T.get_or_init(Mutex::default)
}

/// Accounts remembered before the table is swept.
const MAX_ACCOUNTS: usize = 200_000;

table!(settings, ServiceSettings);

table!(filters, Filter);

table!(faqs, Vec<KnowledgeEntry>);

table!(flows, Flow);

/// Tenants cached per table before stale entries are swept.
const MAX_TENANTS: usize = 65_536;

/// The tenant's sensitive words, compiled.
pub async fn filter(store: &Arc<dyn Store>, tenant: TenantId) -> kefu_store::Result<Arc<Filter>> {
    let load = async { Ok(Some(Filter::new(&store.sensitive_words(tenant).await?))) };
    let f = filters().get_or_load(store, tenant.0, Some(TTL), MAX_TENANTS, load);
    Ok(f.await?.expect("loaded"))
}

/// The tenant's service settings (welcome, queue and rating texts, timeouts), read by the
/// engine for every message a buyer writes to the bot.
pub async fn service_settings(
    store: &Arc<dyn Store>,
    tenant: TenantId,
) -> kefu_store::Result<Arc<ServiceSettings>> {
    let load = async { Ok(Some(store.service_settings(tenant).await?)) };
    let s = settings().get_or_load(store, tenant.0, Some(TTL), MAX_TENANTS, load);
    Ok(s.await?.expect("loaded"))
}

/// Drops this node's copy of the tenant's service settings, after an admin saved them.
pub fn forget_service_settings(store: &Arc<dyn Store>, tenant: TenantId) {
    settings().remove(store, tenant.0);
}

/// Every FAQ entry of the tenant.
pub async fn faq(
    store: &Arc<dyn Store>,
    tenant: TenantId,
) -> kefu_store::Result<Arc<Vec<KnowledgeEntry>>> {
    let load = async {
        let all = store.knowledge(tenant, kefu_store::KnowledgeKind::Faq);
        Ok(Some(all.await?))
    };
    let f = faqs().get_or_load(store, tenant.0, Some(TTL), MAX_TENANTS, load);
    Ok(f.await?.expect("loaded"))
}

/// A published flow version, parsed; `None` when it does not exist or no longer parses.
pub async fn flow(
    store: &Arc<dyn Store>,
    tenant: TenantId,
    version: i64,
) -> kefu_store::Result<Option<Arc<Flow>>> {
    if version <= 0 {
        return Ok(None);
    }
    let load = async {
        let Some(v) = store.flow_version(tenant, version).await? else {
            return Ok(None);
        };
        Ok(serde_json::from_str::<Flow>(&v.doc)
            .inspect_err(|e| {
                tracing::error!(%tenant, version, error = %e, "a published flow version does not parse");
            })
            .ok())
    };
    flows()
        .get_or_load(store, version, None, MAX_FLOWS, load)
        .await
}

/// The tenant's IM app.
pub async fn im_app(
    store: &Arc<dyn Store>,
    tenant: TenantId,
) -> kefu_store::Result<Option<Arc<ImApp>>> {
    apps()
        .get_or_load(
            store,
            tenant.0,
            Some(TTL),
            MAX_TENANTS,
            store.get_im_app(tenant),
        )
        .await
}

/// The IM app with this SDKAppID.
pub async fn im_app_by_sdk(
    store: &Arc<dyn Store>,
    sdk_app_id: i64,
) -> kefu_store::Result<Option<Arc<ImApp>>> {
    let load = store.find_im_app(sdk_app_id);
    apps_by_sdk()
        .get_or_load(store, sdk_app_id, Some(TTL), MAX_TENANTS, load)
        .await
}

table!(tenants, kefu_store::Tenant);

/// The tenant (to see whether it is disabled).
pub async fn tenant(
    store: &Arc<dyn Store>,
    tenant: TenantId,
) -> kefu_store::Result<Option<Arc<kefu_store::Tenant>>> {
    tenants()
        .get_or_load(
            store,
            tenant.0,
            Some(TTL),
            MAX_TENANTS,
            store.get_tenant(tenant),
        )
        .await
}

/// Drops this node's copy of the tenant, after an operator changed it.
pub fn forget_tenant(store: &Arc<dyn Store>, tenant: TenantId) {
    tenants().remove(store, tenant.0);
}

/// Drops this node's copy of the tenant's IM app, after it changed.
pub fn forget_im_app(store: &Arc<dyn Store>, tenant: TenantId) {
    apps().remove(store, tenant.0);
    let mut by_sdk = apps_by_sdk().entries.lock().expect("cache lock");
    by_sdk.retain(|(s, _), e| *s != address(store) || e.value.tenant_id != tenant);
}

/// Whether `user_id` is an imported IM account of the tenant.
pub async fn im_account_exists(
    store: &Arc<dyn Store>,
    tenant: TenantId,
    user_id: &str,
) -> kefu_store::Result<bool> {
    let key = (address(store), tenant.0, user_id.to_string());
    {
        let map = accounts().lock().expect("cache lock");
        if let Some((weak, at)) = map.get(&key)
            && at.elapsed() < TTL
            && weak.strong_count() > 0
        {
            return Ok(true);
        }
    }
    if store.get_im_account(tenant, user_id).await?.is_none() {
        return Ok(false);
    }
    let mut map = accounts().lock().expect("cache lock");
    if map.len() >= MAX_ACCOUNTS {
        map.retain(|_, (weak, at)| at.elapsed() < TTL && weak.strong_count() > 0);
        if map.len() >= MAX_ACCOUNTS {
            map.clear();
        }
    }
    map.insert(key, (Arc::downgrade(store), Instant::now()));
    Ok(true)
}

/// Forgets that an account exists, after it was deleted.
pub fn forget_im_account(store: &Arc<dyn Store>, tenant: TenantId, user_id: &str) {
    accounts()
        .lock()
        .expect("cache lock")
        .remove(&(address(store), tenant.0, user_id.to_string()));
}

/// Drops this node's copies of the tenant's words and FAQ, after an admin changed them.
pub fn forget(store: &Arc<dyn Store>, tenant: TenantId) {
    filters().remove(store, tenant.0);
    faqs().remove(store, tenant.0);
}
