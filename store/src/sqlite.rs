//! The SQLite backend: the embedded default, one file in WAL mode.

use crate::error::{ConnectError, redact_url};
use crate::sql::{
    accounts, bot, callbacks, conversations, im, messages, misc, reports, service, sessions,
    tenants, trees,
};
use crate::{Backend, Result, Store};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool};
use std::str::FromStr;
use std::time::Duration;

/// Bytes of the database file read through a memory map.
const MMAP_SIZE: u64 = 256 * 1024 * 1024;

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

#[derive(Clone)]
pub struct SqliteStore {
    pub(crate) appends: std::sync::Arc<crate::group_commit::Appends>,
    pub(crate) flow_writes: std::sync::Arc<crate::group_commit::FlowWrites>,
    _checkpointer: std::sync::Arc<Checkpointer>,
    /// Message search, indexed in the background (see `sqlite_search`).
    pub(crate) search: std::sync::Arc<crate::sqlite_search::SearchIndex>,
    _indexer: std::sync::Arc<crate::sqlite_search::Indexer>,
    /// The one connection every write goes through (see `connect`).
    pub(crate) writer: SqlitePool,
    /// The connections reads go through.
    pub(crate) pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and its folder, then migrates.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, ConnectError> {
        let shown = redact_url(url);
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| ConnectError::InvalidUrl(shown.clone(), e.to_string()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // Pages are read through a memory map instead of a read() and a copy each: in WAL
            // mode a connection drops its page cache whenever another one has written, so
            // under load most page reads are re-reads.
            .pragma("mmap_size", MMAP_SIZE.to_string())
            // A history page is 51 rows; sqlx's default buffer of 50 made the last row wait
            // for another round between the connection's thread and the caller.
            .row_buffer_size(128)
            // Statement journals (a statement writing many rows inside a transaction) and
            // sorts kept in memory, not in temporary files opened and closed each time.
            .pragma("temp_store", "memory")
            // Checkpoints (copying the WAL back into the database file, then an fsync) run
            // in the background (`Checkpointer`), not in the writer's commit where every
            // 1,000 pages one batch waited for them; the writer checkpoints itself only if
            // the WAL reaches 40 MB, and the file is truncated to 64 MB when it restarts.
            .pragma("wal_autocheckpoint", "10000")
            .pragma("journal_size_limit", (64 * 1024 * 1024).to_string());
        if let Some(parent) = options
            .get_filename()
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|e| {
                ConnectError::Unreachable(parent.display().to_string(), e.to_string())
            })?;
        }
        // Message search lives in a file of its own, attached to every reading connection.
        let search_file = crate::sqlite_search::search_path(options.get_filename());
        let index = crate::sqlite_search::SearchIndex::open(&search_file).await?;
        let attach = search_file.to_string_lossy().into_owned();
        // A connection to a local file does not go stale: no ping before each use (a round
        // trip to the connection's thread, as costly as a small query).
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .test_before_acquire(false)
            .after_connect(move |conn, _| {
                let attach = attach.clone();
                Box::pin(async move {
                    sqlx::query("attach database $1 as search")
                        .bind(attach)
                        .execute(conn)
                        .await
                        .map(|_| ())
                })
            })
            .connect_with(options.clone())
            .await
            .map_err(|e| ConnectError::Unreachable(shown.clone(), e.to_string()))?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| ConnectError::Migrate(shown.clone(), e.to_string()))?;
        // Every write goes through one connection of its own. SQLite has one writer anyway;
        // writers on several connections wait for its lock in SQLite's busy handler, which
        // sleeps 1, 2, 5 … 100 ms between tries: under load a conversation update behind a
        // batch of appends waited hundreds of milliseconds (REST sendmsg p99 743 ms). Here
        // writes queue for the connection instead, first come first served, and its page
        // cache stays warm between batches instead of being dropped for another
        // connection's write. Reads stay on the pool (WAL: readers never wait for a writer).
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(|e| ConnectError::Unreachable(shown, e.to_string()))?;
        let (search, indexer) = crate::sqlite_search::SearchIndex::start(index, pool.clone());
        Ok(Self {
            search,
            _indexer: std::sync::Arc::new(indexer),
            appends: std::sync::Arc::new(crate::group_commit::GroupCommit::new(1)),
            flow_writes: std::sync::Arc::new(crate::group_commit::GroupCommit::new(1)),
            _checkpointer: std::sync::Arc::new(Checkpointer::start(pool.clone())),
            writer,
            pool,
        })
    }
}

/// How often the WAL is copied back into the database file. Each checkpoint ends in fsyncs
/// that write back what it copied, and a commit that needs the disk meanwhile waits behind
/// them: at 250 ms apart every checkpoint stalled a commit for 30–50 ms (REST p99 at 2,000
/// calls/s 51–58 ms); at 50 ms each writes back a fifth as much (p99 24 ms, send→ack at half
/// load 4.6–6 ms instead of 14). On an idle database a checkpoint finds nothing to copy and
/// costs a lock check.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(50);

/// Copies the WAL back into the database file every [`CHECKPOINT_EVERY`] from a reading
/// connection (`PRAGMA wal_checkpoint(PASSIVE)`: it never waits for, nor blocks, the writer
/// or readers), so commits do not. Stopped when the last copy of the store is dropped.
pub(crate) struct Checkpointer(tokio::task::JoinHandle<()>);

impl Checkpointer {
    fn start(pool: SqlitePool) -> Self {
        Self(tokio::spawn(async move {
            let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = sqlx::query("pragma wal_checkpoint(passive)")
                    .execute(&pool)
                    .await
                {
                    tracing::warn!(error = %e, "background WAL checkpoint failed");
                }
            }
        }))
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

tenants::impl_tenant_store!(SqliteStore);
accounts::impl_account_store!(SqliteStore, Sqlite);
sessions::impl_session_store!(SqliteStore);
misc::impl_misc_stores!(SqliteStore);
im::impl_im_store!(SqliteStore);
messages::impl_message_store!(SqliteStore, "messages indexed by messages_chat_time", true);
callbacks::impl_callback_store!(SqliteStore, Sqlite);
conversations::impl_conversation_store!(SqliteStore, Sqlite, "BEGIN IMMEDIATE");
service::impl_service_store!(SqliteStore, Sqlite, "BEGIN IMMEDIATE");
trees::impl_tree_store!(SqliteStore, Sqlite, "BEGIN IMMEDIATE");
bot::impl_bot_store!(SqliteStore, Sqlite, "BEGIN IMMEDIATE");
reports::impl_report_store!(SqliteStore);
crate::sql::append::impl_batch_writer!(SqliteStore, BATCH_SQL);

/// Group-commit statements (see `sql::append`): JSON arrays read with `json_each`.
pub(crate) static BATCH_SQL: crate::sql::append::BatchSql = crate::sql::append::BatchSql {
    begin: None,
    // Each row is read once into a materialized table `r(v)`: `->>` on `json_each`'s value
    // would turn the element back into text for every field it is asked for. Duplicates are
    // looked up by sender and MsgRandom: left to itself the planner walks the chat's last two
    // minutes instead (`messages_chat_created`), every message of them.
    upsert_chats: "with r(v) as materialized (select value from json_each($1)) \
        insert into chats (tenant_id, user_a, user_b, last_seq, created_at, updated_at) \
        select v ->> 't', v ->> 'a', v ->> 'b', 0, v ->> 'at', v ->> 'at' from r where true \
        on conflict (tenant_id, user_a, user_b) do update set updated_at = excluded.updated_at \
        returning id, tenant_id, user_a, user_b, last_seq",
    duplicates: "with r(v) as materialized (select value from json_each($1)) \
        select v ->> 'n' as n, m.* from r \
        join messages m indexed by messages_dedup on m.tenant_id = v ->> 't' and m.from_account = v ->> 'f' \
        and m.msg_random = v ->> 'r' \
        where m.chat_id = v ->> 'c' and m.msg_seq = v ->> 's' \
        and m.content_crc = v ->> 'crc' and m.created_at >= v ->> 'since'",
    set_seqs: "update chats set last_seq = j.value ->> 's' from json_each($1) j \
        where chats.id = j.value ->> 'id'",
    insert_messages: "with r(v) as materialized (select value from json_each($1) order by key) \
        insert into messages (tenant_id, chat_id, seq, from_account, to_account, msg_seq, msg_random, msg_time, msg_key, content_crc, body, cloud_custom_data, text, flag_bits, created_at, sender_role, agent_id) \
        select v ->> 'tenant_id', v ->> 'chat_id', v ->> 'seq', v ->> 'from_account', v ->> 'to_account', \
        v ->> 'msg_seq', v ->> 'msg_random', v ->> 'msg_time', v ->> 'msg_key', v ->> 'content_crc', \
        v ->> 'body', v ->> 'cloud_custom_data', v ->> 'text', 0, v ->> 'created_at', v ->> 'sender_role', \
        v ->> 'agent_id' from r \
        returning id, chat_id, seq",
    insert_callbacks: "with r(v) as materialized (select value from json_each($1) order by key) \
        insert into callback_outbox (tenant_id, command, body, status, attempts, next_attempt_at, \
        last_error, created_at, updated_at) \
        select v ->> 't', v ->> 'command', v ->> 'body', 'pending', 0, v ->> 'at', '', \
        v ->> 'at', v ->> 'at' from r",
    set_flow: crate::sql::append::set_flow!(
        "(select value ->> 't' as t, value ->> 'id' as id, value ->> 'v' as v, value ->> 'node' as node, \
     value ->> 'tries' as tries, value ->> 'ans' as ans, value ->> 'reps' as reps, \
     value ->> 'dl' as dl from json_each($1)) j"
    ),
};

#[async_trait::async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("select 1").execute(&self.pool).await?;
        Ok(())
    }
}

impl SqliteStore {
    /// Messages were committed: the search index takes them soon.
    pub(crate) fn appended(&self) {
        self.search.stored();
    }

    /// Substring search: the FTS5 trigram index (see `sqlite_search`) for three characters
    /// or more, a scan of the tenant's messages for shorter queries (trigrams cannot match
    /// them).
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
        // Every message stored before the search began is found.
        self.search.catch_up().await?;
        let query = search.text.trim();
        let limit = search.limit.clamp(1, 1000);
        let rows: Vec<MessageRow> = if query.chars().count() >= 3 {
            // The whole query as one FTS5 phrase, its quotes doubled, so no operator syntax
            // leaks through.
            let phrase = format!("\"{}\"", query.replace('"', "\"\""));
            let q = sqlx::query_as(concat!(
                "select ",
                message_columns!(),
                " from messages where tenant_id = $1 and id in \
                 (select rowid from search.message_text where message_text match $2)",
                search_filters!(),
                " order by id desc limit $3"
            ))
            .bind(tenant.0)
            .bind(phrase)
            .bind(limit);
            bind_search_filters!(q, search)
                .fetch_all(&self.pool)
                .await?
        } else {
            // Short text (trigrams need three characters) or none: a scan with `like`.
            let q = sqlx::query_as(concat!(
                "select ",
                message_columns!(),
                " from messages where tenant_id = $1 and text like $2 escape '\\'",
                search_filters!(),
                " order by id desc limit $3"
            ))
            .bind(tenant.0)
            .bind(crate::sql::messages::like_pattern(query))
            .bind(limit);
            bind_search_filters!(q, search)
                .fetch_all(&self.pool)
                .await?
        };
        Ok(rows.into_iter().map(Into::into).collect())
    }
}
