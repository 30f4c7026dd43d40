//! Group commit for message appends (and for the flow position the bot writes after most
//! of its answers).
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

use crate::{Appended, FlowMove, NewMessage, Result, StoreError};
use kefu_domain::TenantId;
use kefu_domain::clock::Millis;
use std::sync::{Arc, Mutex};
use tokio::sync::{Semaphore, oneshot};

/// At most this many writes in one transaction.
pub const MAX_BATCH: usize = 256;

/// One queued append.
pub(crate) struct Pending {
    pub tenant: TenantId,
    pub message: NewMessage,
    pub dedup_since: Millis,
    /// A move of the conversation in its flow, committed with the message: the bot's answer
    /// and where the buyer then waits land together.
    pub then: Option<FlowMove>,
}

/// One queued change of a conversation's place in its service flow (what
/// [`crate::Store::set_flow_position`] writes): the bot answers nearly every message a buyer
/// sends in a flow, and each answer moves the reply deadline.
pub(crate) struct FlowWrite {
    pub tenant: TenantId,
    pub to: FlowMove,
}

/// Writes a batch in one transaction, in order; one result per item (a caller left without
/// one sees its reply dropped, an error).
#[async_trait::async_trait]
pub(crate) trait BatchWriter<P: Sync>: Clone + Send + Sync + 'static {
    type Output: Send + 'static;
    async fn write_batch(&self, batch: &[P]) -> Result<Vec<Self::Output>>;
}

struct Queued<P, O> {
    item: P,
    reply: oneshot::Sender<Result<O>>,
}

pub(crate) struct GroupCommit<P, O> {
    queue: Mutex<Vec<Queued<P, O>>>,
    /// Batches written at once: 1 on SQLite (one writer anyway), a few on PostgreSQL, where
    /// batches touching different rows proceed side by side.
    writers: Arc<Semaphore>,
}

/// Message appends, answered with the stored (or original) message.
pub(crate) type Appends = GroupCommit<Pending, Appended>;
/// Flow position writes, answered with whether the conversation was still in its flow.
pub(crate) type FlowWrites = GroupCommit<FlowWrite, bool>;

impl<P: Send + Sync + 'static, O: Send + 'static> GroupCommit<P, O> {
    pub fn new(writers: usize) -> Self {
        Self {
            queue: Mutex::new(Vec::new()),
            writers: Arc::new(Semaphore::new(writers.max(1))),
        }
    }

    /// Queues `item` and returns once the batch holding it has committed (or failed).
    pub async fn submit<W: BatchWriter<P, Output = O>>(&self, writer: &W, item: P) -> Result<O> {
        let (reply, mut done) = oneshot::channel();
        self.lock().push(Queued { item, reply });
        loop {
            let permit = tokio::select! {
                biased;
                result = &mut done => return result.unwrap_or_else(|_| Err(abandoned())),
                permit = self.writers.clone().acquire_owned() => permit.map_err(|_| abandoned())?,
            };
            let batch: Vec<Queued<P, O>> = {
                let mut queue = self.lock();
                let n = queue.len().min(MAX_BATCH);
                queue.drain(..n).collect()
            };
            if batch.is_empty() {
                // Another writer took this item and is writing it now.
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

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Queued<P, O>>> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn abandoned() -> StoreError {
    StoreError::Conflict("the write's batch was abandoned; send it again".into())
}

/// Writes `batch`, falling back to one transaction per item when the batch fails.
async fn write<P: Sync, W: BatchWriter<P>>(writer: &W, batch: Vec<Queued<P, W::Output>>) {
    let (items, replies): (Vec<P>, Vec<_>) = batch.into_iter().map(|q| (q.item, q.reply)).unzip();
    let results = match writer.write_batch(&items).await {
        Ok(results) => results.into_iter().map(Ok).collect(),
        Err(e) if items.len() == 1 => vec![Err(e)],
        Err(e) => {
            tracing::debug!(error = %e, size = items.len(), "a batch failed; writing its items one by one");
            let mut each = Vec::with_capacity(items.len());
            for item in &items {
                each.push(
                    writer
                        .write_batch(std::slice::from_ref(item))
                        .await
                        .map(|mut r| r.remove(0)),
                );
            }
            each
        }
    };
    for (reply, r) in replies.into_iter().zip(results) {
        let _ = reply.send(r);
    }
}
