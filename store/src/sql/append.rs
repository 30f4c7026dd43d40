//! Writing a batch of appends (see [`crate::group_commit`]) in one transaction of a few
//! statements, whatever the batch's size: lock (or create) the batch's chats, look for
//! duplicates, move the chats' sequences, insert the messages, queue their callbacks, and
//! move the conversations whose flow position comes with a message (the bot's answers).
//! Batches of flow positions alone are one statement.
//! Each statement takes its rows as one JSON array, so its text never changes with the batch
//! and stays a cached prepared statement. Reading a JSON array is the one place the two
//! dialects differ (`json_each` against `jsonb_to_recordset`); each backend gives its SQL in
//! a [`BatchSql`].

use crate::group_commit::Pending;
use crate::{Appended, FlowMove, StoredMessage};
use kefu_domain::TenantId;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

/// The statements of a batch, in the backend's dialect. Parameters: `$1` a JSON array.
pub(crate) struct BatchSql {
    /// Opens the batch's transaction, if not a plain `BEGIN`: one round trip for whatever
    /// the backend sets for the batch.
    pub begin: Option<&'static str>,
    /// Rows `{t, a, b, at}` sorted by (t, a, b), so concurrent batches lock chats in one
    /// order; returns `id, tenant_id, user_a, user_b, last_seq` with the chats locked.
    pub upsert_chats: &'static str,
    /// Rows `{n, t, c, f, r, s, crc, since}`; returns `n` and the columns of each message
    /// already stored that row `n` would duplicate.
    pub duplicates: &'static str,
    /// Rows `{id, s}`: each chat's new last sequence.
    pub set_seqs: &'static str,
    /// Rows with every column of `messages` (and `n`, the order); returns `id, chat_id, seq`.
    pub insert_messages: &'static str,
    /// Rows `{t, command, body, at}`.
    pub insert_callbacks: &'static str,
    /// Rows of [`flow_rows`]; moves the conversations still in their flow and returns their
    /// `tenant_id, id` (see [`set_flow`]).
    pub set_flow: &'static str,
}

/// The flow-position statement, given how the backend reads the rows of [`flow_rows`] as a
/// table `j(t, id, v, node, tries, ans, reps, dl)` from the JSON array in `$1`.
macro_rules! set_flow {
    ($rows:literal) => {
        concat!(
            "update conversations set flow_version = j.v, flow_node = j.node, flow_tries = j.tries, \
             bot_answer = j.ans, bot_repeats = j.reps, reply_deadline = j.dl from ",
            $rows,
            " where conversations.tenant_id = j.t and conversations.id = j.id \
             and conversations.state = 'flow' returning conversations.tenant_id, conversations.id"
        )
    };
}
pub(crate) use set_flow;

/// The rows of the flow-position statement, one per conversation: each sets the whole
/// position and none changes whether the conversation is in its flow, so a conversation's
/// last write is the one that counts (and tells every write of it whether it was still
/// there). In conversation order, the order the rows are joined and locked in, so that two
/// batches do not wait on each other's rows. None without writes.
pub(crate) fn flow_rows<'a>(
    writes: impl Iterator<Item = (TenantId, &'a FlowMove)>,
) -> Option<String> {
    let last: BTreeMap<(i64, i64), &FlowMove> =
        writes.map(|(t, w)| ((t.0, w.conversation), w)).collect();
    let rows: Vec<Value> = last
        .into_iter()
        .map(|((t, id), w)| {
            let p = w.position.as_ref();
            json!({
                "t": t,
                "id": id,
                "v": p.map(|p| p.version),
                "node": p.map(|p| p.node.as_str()),
                "tries": p.map_or(0, |p| p.tries),
                "ans": p.and_then(|p| p.bot_answer),
                "reps": p.map_or(0, |p| p.bot_repeats),
                "dl": w.reply_deadline,
            })
        })
        .collect();
    (!rows.is_empty()).then(|| Value::Array(rows).to_string())
}

/// What a batch needs to know about one append.
struct Chat {
    id: i64,
    last_seq: i64,
}

type ChatKey<'a> = (i64, &'a str, &'a str);

fn chat_key(p: &Pending) -> ChatKey<'_> {
    let (a, b) = crate::sql::messages::pair(&p.message.from_account, &p.message.to_account);
    (p.tenant.0, a, b)
}

/// The rows of the chats statement: one per chat, touched at the latest of its messages.
pub(crate) fn chat_rows(batch: &[Pending]) -> String {
    let mut chats: BTreeMap<ChatKey<'_>, i64> = BTreeMap::new();
    for p in batch {
        let at = chats.entry(chat_key(p)).or_insert(p.message.created_at);
        *at = (*at).max(p.message.created_at);
    }
    Value::Array(
        chats
            .into_iter()
            .map(|((t, a, b), at)| json!({"t": t, "a": a, "b": b, "at": at}))
            .collect(),
    )
    .to_string()
}

/// Sequences, duplicates and rows to insert, once the chats are locked.
pub(crate) struct Plan {
    /// Per append: `Ok(index into the inserted rows)` or `Err(the original)`.
    outcome: Vec<Result<usize, StoredMessage>>,
    /// The appends to insert, as `(batch index, chat id, seq)`.
    inserts: Vec<(usize, i64, i64)>,
    chats: Vec<Chat>,
    /// Per append, its chat in `chats` (none if the statement did not return it).
    chat_of: Vec<Option<usize>>,
}

impl Plan {
    /// `rows` are what the chats statement returned.
    pub(crate) fn new(batch: &[Pending], rows: Vec<(i64, i64, String, String, i64)>) -> Self {
        let index: HashMap<ChatKey<'_>, usize> = rows
            .iter()
            .enumerate()
            .map(|(i, (_, t, a, b, _))| ((*t, a.as_str(), b.as_str()), i))
            .collect();
        Self {
            outcome: Vec::new(),
            inserts: Vec::new(),
            chat_of: batch
                .iter()
                .map(|p| index.get(&chat_key(p)).copied())
                .collect(),
            chats: rows
                .iter()
                .map(|&(id, _, _, _, last_seq)| Chat { id, last_seq })
                .collect(),
        }
    }

    fn chat(&self, n: usize) -> Option<&Chat> {
        self.chat_of[n].map(|i| &self.chats[i])
    }

    /// The rows of the duplicates statement; appends whose chat was not returned are left
    /// out (and fail in [`Plan::assign`]).
    pub(crate) fn duplicate_rows(&self, batch: &[Pending]) -> String {
        Value::Array(
            batch
                .iter()
                .enumerate()
                .filter_map(|(n, p)| {
                    let chat = self.chat(n)?;
                    let m = &p.message;
                    Some(json!({
                        "n": n, "t": p.tenant.0, "c": chat.id, "f": m.from_account,
                        "r": m.msg_random, "s": m.msg_seq, "crc": m.content_crc,
                        "since": p.dedup_since,
                    }))
                })
                .collect(),
        )
        .to_string()
    }

    /// Gives each append not already stored the next sequence of its chat. `originals` are
    /// the duplicates statement's rows `(n, original)`; of several, the first stored wins. An
    /// append that repeats an earlier one of the same batch is answered as that one.
    pub(crate) fn assign(
        &mut self,
        batch: &[Pending],
        originals: Vec<(i64, StoredMessage)>,
    ) -> crate::Result<()> {
        let mut first: HashMap<usize, StoredMessage> = HashMap::new();
        for (n, m) in originals {
            let slot = first.entry(n as usize).or_insert_with(|| m.clone());
            if m.id < slot.id {
                *slot = m;
            }
        }
        // (chat, from, MsgSeq, MsgRandom, crc) of the appends inserted so far.
        let mut seen: HashMap<(i64, &str, i64, i64, i64), usize> = HashMap::new();
        for (n, p) in batch.iter().enumerate() {
            if let Some(original) = first.remove(&n) {
                self.outcome.push(Err(original));
                continue;
            }
            let chat = self.chat_of[n].map(|i| &mut self.chats[i]).ok_or_else(|| {
                crate::StoreError::Conflict("a chat of the batch vanished".into())
            })?;
            let m = &p.message;
            let key = (
                chat.id,
                m.from_account.as_str(),
                m.msg_seq,
                m.msg_random,
                m.content_crc,
            );
            if let Some(&earlier) = seen.get(&key) {
                self.outcome.push(Ok(earlier));
                continue;
            }
            chat.last_seq += 1;
            seen.insert(key, self.inserts.len());
            self.outcome.push(Ok(self.inserts.len()));
            self.inserts.push((n, chat.id, chat.last_seq));
        }
        Ok(())
    }

    /// The rows of the sequences statement.
    pub(crate) fn seq_rows(&self) -> String {
        let mut last: BTreeMap<i64, i64> = BTreeMap::new();
        for &(_, chat, seq) in &self.inserts {
            last.insert(chat, seq);
        }
        Value::Array(
            last.into_iter()
                .map(|(id, s)| json!({"id": id, "s": s}))
                .collect(),
        )
        .to_string()
    }

    pub(crate) fn nothing_to_insert(&self) -> bool {
        self.inserts.is_empty()
    }

    /// The rows of the messages statement.
    pub(crate) fn message_rows(&self, batch: &[Pending]) -> String {
        Value::Array(
            self.inserts
                .iter()
                .enumerate()
                .map(|(order, &(n, chat, seq))| {
                    let (p, m) = (&batch[n], &batch[n].message);
                    json!({
                        "n": order, "tenant_id": p.tenant.0, "chat_id": chat, "seq": seq,
                        "from_account": m.from_account, "to_account": m.to_account,
                        "msg_seq": m.msg_seq, "msg_random": m.msg_random, "msg_time": m.msg_time,
                        "msg_key": m.msg_key(), "content_crc": m.content_crc, "body": m.body,
                        "cloud_custom_data": m.cloud_custom_data, "text": m.text,
                        "created_at": m.created_at, "sender_role": m.sender_role,
                        "agent_id": m.agent_id.map(|a| a.0),
                    })
                })
                .collect(),
        )
        .to_string()
    }

    /// The rows of the callbacks statement: the after-send callbacks of the inserted appends.
    pub(crate) fn callback_rows(&self, batch: &[Pending]) -> Option<String> {
        let rows: Vec<Value> = self
            .inserts
            .iter()
            .filter_map(|&(n, _, _)| {
                let p = &batch[n];
                let c = p.message.callback.as_ref()?;
                Some(json!({
                    "t": p.tenant.0, "command": c.command, "body": c.body,
                    "at": p.message.created_at,
                }))
            })
            .collect();
        (!rows.is_empty()).then(|| Value::Array(rows).to_string())
    }

    /// Each append's result, given the inserted rows' `(id, chat_id, seq)`.
    pub(crate) fn results(
        self,
        batch: &[Pending],
        inserted: Vec<(i64, i64, i64)>,
    ) -> crate::Result<Vec<Appended>> {
        let ids: HashMap<(i64, i64), i64> = inserted
            .into_iter()
            .map(|(id, chat, seq)| ((chat, seq), id))
            .collect();
        let stored: Vec<StoredMessage> = self
            .inserts
            .iter()
            .map(|&(n, chat, seq)| {
                let m = &batch[n].message;
                let id = *ids.get(&(chat, seq)).ok_or_else(|| {
                    crate::StoreError::Conflict("an inserted message was not returned".into())
                })?;
                Ok(StoredMessage {
                    id,
                    chat_id: chat,
                    seq,
                    from_account: m.from_account.clone(),
                    to_account: m.to_account.clone(),
                    msg_seq: m.msg_seq,
                    msg_random: m.msg_random,
                    msg_time: m.msg_time,
                    msg_key: m.msg_key(),
                    body: m.body.clone(),
                    cloud_custom_data: m.cloud_custom_data.clone(),
                    flag_bits: 0,
                    created_at: m.created_at,
                    sender_role: m.sender_role.clone(),
                    agent_id: m.agent_id,
                })
            })
            .collect::<crate::Result<_>>()?;
        let mut results = Vec::with_capacity(self.outcome.len());
        for (n, outcome) in self.outcome.into_iter().enumerate() {
            results.push(match outcome {
                Err(original) => Appended {
                    message: original,
                    duplicate: true,
                },
                Ok(i) => Appended {
                    message: stored[i].clone(),
                    // Inserted for this append, or for an earlier one of the batch it repeats.
                    duplicate: self.inserts[i].0 != n,
                },
            });
        }
        Ok(results)
    }
}

/// Implements [`crate::group_commit::BatchWriter`] for a store with a `pool`, given its
/// [`BatchSql`].
macro_rules! impl_batch_writer {
    ($S:ty, $sql:expr) => {
        #[async_trait::async_trait]
        impl $crate::group_commit::BatchWriter<$crate::group_commit::Pending> for $S {
            type Output = $crate::Appended;
            async fn write_batch(
                &self,
                batch: &[$crate::group_commit::Pending],
            ) -> $crate::Result<Vec<$crate::Appended>> {
                use sqlx::Row;
                let sql: &$crate::sql::append::BatchSql = &$sql;
                let mut tx = match sql.begin {
                    Some(begin) => self.writer.begin_with(begin).await?,
                    None => self.writer.begin().await?,
                };
                let chats: Vec<(i64, i64, String, String, i64)> = sqlx::query_as(sql.upsert_chats)
                    .bind($crate::sql::append::chat_rows(batch))
                    .fetch_all(&mut *tx)
                    .await?;
                let mut plan = $crate::sql::append::Plan::new(batch, chats);
                let rows = sqlx::query(sql.duplicates)
                    .bind(plan.duplicate_rows(batch))
                    .fetch_all(&mut *tx)
                    .await?;
                let mut originals = Vec::with_capacity(rows.len());
                for row in &rows {
                    let n: i64 = row.try_get("n")?;
                    let m: $crate::sql::rows::MessageRow = sqlx::FromRow::from_row(row)?;
                    originals.push((n, m.into()));
                }
                plan.assign(batch, originals)?;
                let mut inserted = Vec::new();
                if !plan.nothing_to_insert() {
                    sqlx::query(sql.set_seqs)
                        .bind(plan.seq_rows())
                        .execute(&mut *tx)
                        .await?;
                    inserted = sqlx::query_as(sql.insert_messages)
                        .bind(plan.message_rows(batch))
                        .fetch_all(&mut *tx)
                        .await?;
                    if let Some(rows) = plan.callback_rows(batch) {
                        sqlx::query(sql.insert_callbacks)
                            .bind(rows)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                let moves = batch
                    .iter()
                    .filter_map(|p| Some((p.tenant, p.then.as_ref()?)));
                if let Some(rows) = $crate::sql::append::flow_rows(moves) {
                    sqlx::query(sql.set_flow)
                        .bind(rows)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                if !plan.nothing_to_insert() {
                    self.appended();
                }
                plan.results(batch, inserted)
            }
        }

        #[async_trait::async_trait]
        impl $crate::group_commit::BatchWriter<$crate::group_commit::FlowWrite> for $S {
            type Output = bool;
            async fn write_batch(
                &self,
                batch: &[$crate::group_commit::FlowWrite],
            ) -> $crate::Result<Vec<bool>> {
                // One statement for the batch (see `flow_rows`).
                let Some(rows) =
                    $crate::sql::append::flow_rows(batch.iter().map(|w| (w.tenant, &w.to)))
                else {
                    return Ok(Vec::new());
                };
                let updated: Vec<(i64, i64)> = sqlx::query_as($sql.set_flow)
                    .bind(rows)
                    .fetch_all(&self.writer)
                    .await?;
                let updated: std::collections::HashSet<(i64, i64)> = updated.into_iter().collect();
                Ok(batch
                    .iter()
                    .map(|w| updated.contains(&(w.tenant.0, w.to.conversation)))
                    .collect())
            }
        }
    };
}
pub(crate) use impl_batch_writer;
