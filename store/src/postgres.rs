//! The PostgreSQL backend: production, shared by every replica.

use crate::error::{ConnectError, redact_url};
use crate::sql::{
    accounts, bot, callbacks, conversations, im, messages, misc, reports, service, sessions,
    tenants, trees,
};
use crate::{Backend, Result, Store};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};
use std::str::FromStr;
use std::time::Duration;

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

#[derive(Clone)]
pub struct PgStore {
    pub(crate) appends: std::sync::Arc<crate::group_commit::Appends>,
    pub(crate) flow_writes: std::sync::Arc<crate::group_commit::FlowWrites>,
    /// The connections writes go through: the pool itself (PostgreSQL has row locks).
    pub(crate) writer: PgPool,
    /// The connections reads go through.
    pub(crate) pool: PgPool,
}

/// A pooled connection idle for longer than this is pinged before it is used.
const CHECK_IDLE_AFTER: Duration = Duration::from_secs(1);

impl PgStore {
    /// Messages were committed. Nothing to do: PostgreSQL's search index (pg_trgm) is kept
    /// by the insert itself.
    pub(crate) fn appended(&self) {}

    /// Connects and migrates. Replicas starting together are safe: sqlx takes an advisory
    /// lock around migrations.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, ConnectError> {
        let shown = redact_url(url);
        // JIT off: Kefu's queries are short or index-driven, and the planner's cost of a
        // report's subqueries that never run (ended sessions carry their figures) set JIT off
        // compiling for longer than the query takes (0.96 s against 0.29 s on the reports
        // benchmark). A `jit` given in the URL's `options` still wins.
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| ConnectError::InvalidUrl(shown.clone(), e.to_string()))?;
        let options = if url.contains("jit") {
            options
        } else {
            options.options([("jit", "off")])
        };
        // One direct connection first: its error says why (refused, auth, no such database),
        // where the pool would only report a timeout.
        {
            use sqlx::Connection;
            let conn = sqlx::PgConnection::connect_with(&options)
                .await
                .map_err(|e| ConnectError::Unreachable(shown.clone(), e.to_string()))?;
            let _ = conn.close().await;
        }
        // sqlx pings a connection when it goes back to the pool, and by default again when
        // it is taken out: a round trip to the server before every query. A connection back
        // from the pool within the last second has just answered that ping; only one idle
        // for longer (the server may have restarted) is checked before use.
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(2))
            .acquire_timeout(Duration::from_secs(5))
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > CHECK_IDLE_AFTER {
                        use sqlx::Connection;
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options)
            .await
            .map_err(|e| ConnectError::Unreachable(shown.clone(), e.to_string()))?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| ConnectError::Migrate(shown, e.to_string()))?;
        Ok(Self {
            appends: std::sync::Arc::new(crate::group_commit::GroupCommit::new(BATCH_WRITERS)),
            flow_writes: std::sync::Arc::new(crate::group_commit::GroupCommit::new(BATCH_WRITERS)),
            writer: pool.clone(),
            pool,
        })
    }
}

tenants::impl_tenant_store!(PgStore);
accounts::impl_account_store!(PgStore, Postgres);
sessions::impl_session_store!(PgStore);
misc::impl_misc_stores!(PgStore);
im::impl_im_store!(PgStore);
messages::impl_message_store!(PgStore, "messages", false);
callbacks::impl_callback_store!(PgStore, Postgres);
conversations::impl_conversation_store!(PgStore, Postgres, "BEGIN");
service::impl_service_store!(PgStore, Postgres, "BEGIN");
trees::impl_tree_store!(PgStore, Postgres, "BEGIN");
bot::impl_bot_store!(PgStore, Postgres, "BEGIN");
reports::impl_report_store!(PgStore);
crate::sql::append::impl_batch_writer!(PgStore, BATCH_SQL);

/// Batches of appends (and of flow positions) written at once by one node. Two keep the
/// database busy: one commits (waits for its WAL flush) while the next is being written, and
/// whatever arrives meanwhile joins the batch after. More only add batches competing for the
/// same chats' locks, connections and CPU: on the 2-core benchmark machine, REST `sendmsg`
/// made 2,577–2,630 calls/s with two against 2,390–2,437 with four (p99 at 2,000/s 39–48 ms
/// against 47–63), 1,879 with eight and 1,300 with sixteen.
const BATCH_WRITERS: usize = 2;

/// Group-commit statements (see `sql::append`): JSON arrays read with `jsonb_to_recordset`.
pub(crate) static BATCH_SQL: crate::sql::append::BatchSql = crate::sql::append::BatchSql {
    // The row count of a JSON array is unknown to the planner, and a generic plan made while
    // `messages` was small (a seq scan then) would be kept as it grows: plan each batch for
    // the tables as they are. Sent with the BEGIN as one simple query: one round trip.
    begin: Some("BEGIN; SET LOCAL plan_cache_mode = force_custom_plan"),
    upsert_chats: "insert into chats (tenant_id, user_a, user_b, last_seq, created_at, updated_at) \
        select k.t, k.a, k.b, 0, k.at, k.at from jsonb_to_recordset($1::jsonb) as k(t bigint, a text, b text, at bigint) \
        order by k.t, k.a, k.b \
        on conflict (tenant_id, user_a, user_b) do update set updated_at = excluded.updated_at \
        returning id, tenant_id, user_a, user_b, last_seq",
    duplicates: "select k.n, m.* from jsonb_to_recordset($1::jsonb) \
        as k(n bigint, t bigint, c bigint, f text, r bigint, s bigint, crc bigint, since bigint) \
        join messages m on m.tenant_id = k.t and m.from_account = k.f and m.msg_random = k.r \
        where m.chat_id = k.c and m.msg_seq = k.s and m.content_crc = k.crc and m.created_at >= k.since",
    set_seqs: "update chats set last_seq = k.s from jsonb_to_recordset($1::jsonb) as k(id bigint, s bigint) \
        where chats.id = k.id",
    insert_messages: "insert into messages (tenant_id, chat_id, seq, from_account, to_account, msg_seq, msg_random, msg_time, msg_key, content_crc, body, cloud_custom_data, text, flag_bits, created_at, sender_role, agent_id) \
        select k.tenant_id, k.chat_id, k.seq, k.from_account, k.to_account, k.msg_seq, k.msg_random, \
        k.msg_time, k.msg_key, k.content_crc, k.body, k.cloud_custom_data, k.text, 0, k.created_at, \
        k.sender_role, k.agent_id \
        from jsonb_to_recordset($1::jsonb) as k(n bigint, tenant_id bigint, chat_id bigint, seq bigint, \
        from_account text, to_account text, msg_seq bigint, msg_random bigint, msg_time bigint, msg_key text, \
        content_crc bigint, body text, cloud_custom_data text, text text, created_at bigint, \
        sender_role text, agent_id bigint) order by k.n \
        returning id, chat_id, seq",
    insert_callbacks: "insert into callback_outbox (tenant_id, command, body, status, attempts, next_attempt_at, \
        last_error, created_at, updated_at) \
        select k.t, k.command, k.body, 'pending', 0, k.at, '', k.at, k.at \
        from jsonb_to_recordset($1::jsonb) as k(t bigint, command text, body text, at bigint)",
    set_flow: crate::sql::append::set_flow!(
        "json_to_recordset($1::json) as j(t bigint, id bigint, v bigint, node text, tries bigint, \
     ans bigint, reps bigint, dl bigint)"
    ),
};

#[async_trait::async_trait]
impl Store for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("select 1").execute(&self.pool).await?;
        Ok(())
    }
}

impl PgStore {
    /// Substring search with `ilike`, served by the pg_trgm GIN index for three characters
    /// or more.
    pub(crate) async fn search_text(
        &self,
        tenant: kefu_domain::TenantId,
        search: &crate::MessageSearch,
    ) -> Result<Vec<crate::StoredMessage>> {
        use crate::sql::messages::{bind_search_filters, search_filters};
        use crate::sql::rows::{MessageRow, message_columns};
        if search.is_empty() {
            return Ok(Vec::new());
        }
        // pg_trgm's index serves `ilike` for three characters or more; an empty text matches
        // everything and leaves the other filters to choose.
        let q = sqlx::query_as(concat!(
            "select ",
            message_columns!(),
            " from messages where tenant_id = $1 and text ilike $2 escape '\\'",
            search_filters!(),
            " order by id desc limit $3"
        ))
        .bind(tenant.0)
        .bind(crate::sql::messages::like_pattern(search.text.trim()))
        .bind(search.limit.clamp(1, 1000));
        let rows: Vec<MessageRow> = bind_search_filters!(q, search)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}
