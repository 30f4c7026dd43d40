//! Group commit for message appends.
//!
//! Every buyer and agent message is one append, and an append is a transaction. Committing
//! them one by one caps a node at what one commit costs: on SQLite every writer also waits for
//! the single write lock (sleeping in the busy handler), on PostgreSQL every commit is a WAL
//! flush. Appends are therefore queued and written in batches: whoever finds no batch being
//! written takes everything queued (up to [`MAX_BATCH`]) and writes it in one transaction,
//! then hands each caller its result. Under light load a batch holds one message and costs
//! what a lone append did; under heavy load the per-transaction cost is shared.
//!
//! Nothing is acknowledged before its batch commits, so an acknowledged message survives a
//! `kill -9` exactly as before. A batch that fails as a whole is retried one message at a time,
//! so one bad message (or a deadlock victim) fails only its own caller.
//!
//! The batch is written by a spawned task: a caller that gives up (its request cancelled)
//! neither rolls back the others' messages nor leaves them waiting.

use crate::{Appended, NewMessage, Result, StoreError};
use kefu_domain::TenantId;
use kefu_domain::clock::Millis;
use std::sync::{Arc, Mutex};
use tokio::sync::{Semaphore, oneshot};

/// At most this many appends in one transaction.
pub const MAX_BATCH: usize = 256;

/// One queued append.
pub(crate) struct Pending {
    pub tenant: TenantId,
    pub message: NewMessage,
    pub dedup_since: Millis,
    pub reply: oneshot::Sender<Result<Appended>>,
}

/// Writes a batch of appends in one transaction, in order; one result per append (a caller
/// left without one sees its reply dropped, an error).
#[async_trait::async_trait]
pub(crate) trait BatchWriter: Clone + Send + Sync + 'static {
    async fn write_batch(&self, batch: &[Pending]) -> Result<Vec<Appended>>;
}

pub(crate) struct GroupCommit {
    queue: Mutex<Vec<Pending>>,
    /// Batches written at once: 1 on SQLite (one writer anyway), a few on PostgreSQL, where
    /// batches touching different chats proceed side by side.
    writers: Arc<Semaphore>,
}

impl GroupCommit {
    pub fn new(writers: usize) -> Self {
        Self {
            queue: Mutex::new(Vec::new()),
            writers: Arc::new(Semaphore::new(writers.max(1))),
        }
    }

    pub async fn append<W: BatchWriter>(
        &self,
        writer: &W,
        tenant: TenantId,
        message: NewMessage,
        dedup_since: Millis,
    ) -> Result<Appended> {
        let (reply, mut done) = oneshot::channel();
        self.lock().push(Pending {
            tenant,
            message,
            dedup_since,
            reply,
        });
        loop {
            let permit = tokio::select! {
                biased;
                result = &mut done => return result.unwrap_or_else(|_| Err(abandoned())),
                permit = self.writers.clone().acquire_owned() => permit.map_err(|_| abandoned())?,
            };
            let batch: Vec<Pending> = {
                let mut queue = self.lock();
                let n = queue.len().min(MAX_BATCH);
                queue.drain(..n).collect()
            };
            if batch.is_empty() {
                // Another writer took this append and is writing it now.
                drop(permit);
                return done.await.unwrap_or_else(|_| Err(abandoned()));
            }
            let writer = writer.clone();
            let written = tokio::spawn(async move {
                write(&writer, batch).await;
                drop(permit);
            });
            // A panic in the writer drops the batch's reply senders: their callers see an error.
            let _ = written.await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Pending>> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn abandoned() -> StoreError {
    StoreError::Conflict("the message's batch was abandoned; send it again".into())
}

/// Writes `batch`, falling back to one transaction per append when the batch fails.
async fn write<W: BatchWriter>(writer: &W, batch: Vec<Pending>) {
    let results = match writer.write_batch(&batch).await {
        Ok(results) => results.into_iter().map(Ok).collect(),
        Err(e) if batch.len() == 1 => vec![Err(e)],
        Err(e) => {
            tracing::debug!(error = %e, size = batch.len(), "a batch of appends failed; writing them one by one");
            let mut each = Vec::with_capacity(batch.len());
            for p in &batch {
                each.push(
                    writer
                        .write_batch(std::slice::from_ref(p))
                        .await
                        .map(|mut r| r.remove(0)),
                );
            }
            each
        }
    };
    for (p, r) in batch.into_iter().zip(results) {
        let _ = p.reply.send(r);
    }
}
