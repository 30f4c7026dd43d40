//! Message search on SQLite: an FTS5 trigram index kept in a database file of its own beside
//! the store's (`kefu.db` → `kefu-search.db`), filled by a background indexer, not by the
//! append's transaction.
//!
//! Indexing in the append made commits slow in bursts: FTS5 writes the batch's terms as a new
//! segment at commit and merges segments there, and while it did so every other write of the
//! node waited for the one writer (send→ack p99 30–34 ms at half load, 14.6 ms without the
//! index). Here the appends commit without it; the indexer takes what was stored since it last
//! ran, at most every [`PACE`], in a transaction on its own file, so its merges hold no lock
//! an append needs.
//!
//! A search first brings the index up to date, so it finds every message stored before it
//! began. The index is derived data: the file may be deleted while Kefu is stopped, and is
//! rebuilt from the messages when it starts; one that claims more messages than the database
//! holds (`kefu.db` restored from an older copy) is emptied and rebuilt too.

use crate::Result;
use crate::error::ConnectError;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, Notify};

/// Messages indexed in one transaction.
const CHUNK: i64 = 2_000;
/// The indexer runs at most this often while messages keep coming: fewer, larger segments.
const PACE: Duration = Duration::from_millis(100);
/// And at least this often, for messages another process stored (tools, a restore).
const SWEEP: Duration = Duration::from_secs(1);

/// The search file of the database at `db`: `kefu.db` → `kefu-search.db`.
pub(crate) fn search_path(db: &Path) -> PathBuf {
    let stem = db.file_stem().unwrap_or_default().to_string_lossy();
    let name = match db.extension() {
        Some(ext) => format!("{stem}-search.{}", ext.to_string_lossy()),
        None => format!("{stem}-search"),
    };
    db.with_file_name(name)
}

pub(crate) struct SearchIndex {
    /// One connection to the search file.
    index: SqlitePool,
    /// The store's readers.
    messages: SqlitePool,
    /// One catch-up at a time in this process; holds whether the index was checked against
    /// the messages since the store opened.
    running: Mutex<bool>,
    wake: Notify,
}

impl SearchIndex {
    /// Opens (creating if needed) the search file at `path`.
    pub(crate) async fn open(path: &Path) -> std::result::Result<SqlitePool, ConnectError> {
        let shown = path.display().to_string();
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10));
        let index = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(|e| ConnectError::Unreachable(shown.clone(), e.to_string()))?;
        // Contentless: the text stays in `messages`; a match gives message ids. `indexed`
        // holds the last message id the index covers.
        for statement in [
            "create virtual table if not exists message_text using fts5(text, content = '', tokenize = 'trigram')",
            "create table if not exists indexed (one integer primary key check (one = 1), last_id integer not null)",
            "insert into indexed (one, last_id) values (1, 0) on conflict do nothing",
        ] {
            sqlx::query(statement)
                .execute(&index)
                .await
                .map_err(|e| ConnectError::Migrate(shown.clone(), e.to_string()))?;
        }
        Ok(index)
    }

    /// Starts indexing in the background, until the returned task is dropped.
    pub(crate) fn start(index: SqlitePool, messages: SqlitePool) -> (Arc<Self>, Indexer) {
        let this = Arc::new(Self {
            index,
            messages,
            running: Mutex::new(false),
            wake: Notify::new(),
        });
        let indexing = this.clone();
        let task = tokio::spawn(async move {
            loop {
                if let Err(e) = indexing.catch_up().await {
                    tracing::warn!(error = %e, "indexing messages for search failed; retrying");
                }
                let _ = tokio::time::timeout(SWEEP, indexing.wake.notified()).await;
                tokio::time::sleep(PACE).await;
            }
        });
        (this, Indexer(task))
    }

    /// Messages were stored: index them soon.
    pub(crate) fn stored(&self) {
        self.wake.notify_one();
    }

    /// Indexes every message stored so far.
    pub(crate) async fn catch_up(&self) -> Result<()> {
        let mut checked = self.running.lock().await;
        if !*checked {
            self.forget_if_ahead().await?;
            *checked = true;
        }
        loop {
            // The write lock on the search file first, then the cursor: two processes on the
            // same files never index a message twice.
            let mut tx = self.index.begin_with("BEGIN IMMEDIATE").await?;
            let (last,): (i64,) = sqlx::query_as("select last_id from indexed")
                .fetch_one(&mut *tx)
                .await?;
            // Ids grow in commit order (one writer): nothing below the highest id read can
            // still appear.
            let rows: Vec<(i64, String)> =
                sqlx::query_as("select id, text from messages where id > $1 order by id limit $2")
                    .bind(last)
                    .bind(CHUNK)
                    .fetch_all(&self.messages)
                    .await?;
            let Some(&(newest, _)) = rows.last() else {
                return Ok(());
            };
            let texts: Vec<(i64, &str)> = rows
                .iter()
                .filter(|(_, text)| !text.is_empty())
                .map(|(id, text)| (*id, text.as_str()))
                .collect();
            sqlx::query(
                "insert into message_text (rowid, text) \
                 select value ->> 0, value ->> 1 from json_each($1)",
            )
            .bind(serde_json::json!(texts).to_string())
            .execute(&mut *tx)
            .await?;
            sqlx::query("update indexed set last_id = $1")
                .bind(newest)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            if (rows.len() as i64) < CHUNK {
                return Ok(());
            }
        }
    }
}

impl SearchIndex {
    /// An index that claims messages the database does not have (`kefu.db` restored from an
    /// older copy, whose next ids the index believes it holds) is emptied and rebuilt.
    async fn forget_if_ahead(&self) -> Result<()> {
        let (newest,): (Option<i64>,) = sqlx::query_as("select max(id) from messages")
            .fetch_one(&self.messages)
            .await?;
        let mut tx = self.index.begin_with("BEGIN IMMEDIATE").await?;
        let (last,): (i64,) = sqlx::query_as("select last_id from indexed")
            .fetch_one(&mut *tx)
            .await?;
        if last <= newest.unwrap_or(0) {
            return Ok(());
        }
        tracing::warn!(
            indexed = last,
            stored = newest.unwrap_or(0),
            "the search index is ahead of the messages (a restored database?); rebuilding it"
        );
        sqlx::query("insert into message_text (message_text) values ('delete-all')")
            .execute(&mut *tx)
            .await?;
        sqlx::query("update indexed set last_id = 0")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The background indexing task; aborted when dropped.
pub(crate) struct Indexer(tokio::task::JoinHandle<()>);

impl Drop for Indexer {
    fn drop(&mut self) {
        self.0.abort();
    }
}
