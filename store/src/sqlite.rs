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
    pub(crate) appends: std::sync::Arc<crate::group_commit::GroupCommit>,
    /// The connection message appends are written through.
    pub(crate) append_pool: SqlitePool,
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
            .row_buffer_size(128);
        if let Some(parent) = options
            .get_filename()
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|e| {
                ConnectError::Unreachable(parent.display().to_string(), e.to_string())
            })?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .connect_with(options.clone())
            .await
            .map_err(|e| ConnectError::Unreachable(shown.clone(), e.to_string()))?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| ConnectError::Migrate(shown.clone(), e.to_string()))?;
        // Message appends, the bulk of the writes, go through one connection of their own:
        // SQLite has one writer anyway, and this connection's page cache then stays warm
        // between batches instead of being dropped for another connection's write.
        let append_pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(|e| ConnectError::Unreachable(shown, e.to_string()))?;
        Ok(Self {
            appends: std::sync::Arc::new(crate::group_commit::GroupCommit::new(1)),
            append_pool,
            pool,
        })
    }
}

tenants::impl_tenant_store!(SqliteStore);
accounts::impl_account_store!(SqliteStore, Sqlite);
sessions::impl_session_store!(SqliteStore);
misc::impl_misc_stores!(SqliteStore);
im::impl_im_store!(SqliteStore);
messages::impl_message_store!(SqliteStore, "messages indexed by messages_chat_time");
callbacks::impl_callback_store!(SqliteStore, Sqlite);
conversations::impl_conversation_store!(SqliteStore, Sqlite, "BEGIN IMMEDIATE");
service::impl_service_store!(SqliteStore, Sqlite, "BEGIN IMMEDIATE");
trees::impl_tree_store!(SqliteStore, Sqlite, "BEGIN IMMEDIATE");
bot::impl_bot_store!(SqliteStore, Sqlite, "BEGIN IMMEDIATE");
reports::impl_report_store!(SqliteStore);
crate::sql::append::impl_batch_writer!(SqliteStore, BATCH_SQL);

/// Group-commit statements (see `sql::append`): JSON arrays read with `json_each`.
pub(crate) static BATCH_SQL: crate::sql::append::BatchSql = crate::sql::append::BatchSql {
    setup: None,
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
    /// Substring search: the FTS5 trigram index for three characters or more, a scan of the
    /// tenant's messages for shorter queries (trigrams cannot match them).
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
                 (select rowid from messages_fts where messages_fts match $2)",
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
