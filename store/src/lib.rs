//! Kefu's storage: one interface per use case, implemented once for SQLite and once for
//! PostgreSQL.
//!
//! The SQL that both databases understand is written once, in the `sql` modules, and stamped
//! out for each backend by a macro; only what differs (connection setup, migrations) lives in
//! `sqlite.rs` and `postgres.rs`. The backend is picked from the URL scheme by [`connect`].
//!
//! Every call on tenant-owned data takes the tenant. The one exception is
//! [`SessionStore::authenticate`], because a bearer token is what tells us the tenant.

mod error;
mod group_commit;
mod model;
mod postgres;
mod routing;
mod sql;
mod sqlite;
mod sqlite_search;
pub mod testing;

use async_trait::async_trait;
use kefu_domain::clock::Millis;
use kefu_domain::settings::ServiceSettings;
use kefu_domain::{AccountId, SkillGroupId, TenantId};
use std::sync::Arc;

pub use error::{ConnectError, StoreError};
pub use model::*;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Tenants (suppliers) and their plans. Platform-level: only operators reach these.
#[async_trait]
pub trait TenantStore: Send + Sync {
    /// Creates the tenant and its owner (the first super admin) in one transaction.
    async fn create_tenant(
        &self,
        tenant: NewTenant,
        owner: NewAccount,
        now: Millis,
    ) -> Result<(Tenant, Account)>;
    async fn list_tenants(&self) -> Result<Vec<Tenant>>;
    async fn get_tenant(&self, id: TenantId) -> Result<Option<Tenant>>;
    async fn find_tenant_by_code(&self, code: &str) -> Result<Option<Tenant>>;
    async fn update_tenant(&self, id: TenantId, patch: TenantPatch, now: Millis) -> Result<Tenant>;
    /// Seats in use against the plan. Online counts come with agent status.
    async fn seat_usage(&self, tenant: TenantId) -> Result<SeatUsage>;
}

/// Accounts (seats) inside a tenant, and the platform's operators.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Creates a seat. Refuses with [`StoreError::SeatLimitReached`] when the tenant's plan is
    /// full; the count and the insert happen under one lock so two requests cannot both take
    /// the last seat. Writes the role assignment to the policy table in the same transaction.
    async fn create_account(
        &self,
        tenant: TenantId,
        account: NewAccount,
        now: Millis,
    ) -> Result<Account>;
    async fn create_operator(&self, account: NewAccount, now: Millis) -> Result<Account>;
    async fn count_operators(&self) -> Result<i64>;
    async fn get_account(&self, tenant: TenantId, id: AccountId) -> Result<Option<Account>>;
    async fn get_operator(&self, id: AccountId) -> Result<Option<Account>>;
    /// The account that a login names: an operator when `tenant` is `None`.
    async fn find_login(&self, tenant: Option<TenantId>, username: &str)
    -> Result<Option<Account>>;
    async fn list_accounts(&self, tenant: TenantId, filter: &AccountFilter)
    -> Result<Vec<Account>>;
    async fn update_account(
        &self,
        tenant: TenantId,
        id: AccountId,
        patch: AccountPatch,
        now: Millis,
    ) -> Result<Account>;
    /// Sets a new password hash; `tenant` is `None` for operators.
    async fn set_password(
        &self,
        tenant: Option<TenantId>,
        id: AccountId,
        hash: &str,
        must_change: bool,
        now: Millis,
    ) -> Result<()>;
    async fn delete_account(&self, tenant: TenantId, id: AccountId) -> Result<()>;
}

/// Skill groups (技能组). The full model arrives with routing; this is what seats need.
#[async_trait]
pub trait SkillGroupStore: Send + Sync {
    async fn create_skill_group(
        &self,
        tenant: TenantId,
        name: &str,
        now: Millis,
    ) -> Result<SkillGroup>;
    async fn list_skill_groups(&self, tenant: TenantId) -> Result<Vec<SkillGroup>>;
    async fn get_skill_group(
        &self,
        tenant: TenantId,
        id: SkillGroupId,
    ) -> Result<Option<SkillGroup>>;
    async fn update_skill_group(
        &self,
        tenant: TenantId,
        id: SkillGroupId,
        patch: &SkillGroupPatch,
        now: Millis,
    ) -> Result<SkillGroup>;
    /// Deletes a group nobody uses; otherwise [`StoreError::Conflict`] says what uses it
    /// (members, open conversations, customer-service accounts).
    async fn delete_skill_group(&self, tenant: TenantId, id: SkillGroupId) -> Result<()>;
    /// The group's members and their own caps (`None`: the group's).
    async fn group_members(
        &self,
        tenant: TenantId,
        id: SkillGroupId,
    ) -> Result<Vec<(AccountId, Option<i64>)>>;
}

/// Logins and their bearer tokens.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Opens a session unless the account has a live one (seen after `live_since`), in which
    /// case it fails with [`StoreError::AlreadyLoggedIn`]. Sessions that are no longer live
    /// are revoked as "replaced": one account, one login.
    async fn open_session(&self, new: NewSession, live_since: Millis) -> Result<Session>;
    /// The session and account for a token hash, if the session is open and was used after
    /// `valid_since`. Marks it used at `now` (at most every few seconds, to spare writes).
    async fn authenticate(
        &self,
        token_hash: &str,
        valid_since: Millis,
        now: Millis,
    ) -> Result<Option<(Session, Account)>>;
    async fn revoke_session(&self, id: i64, reason: &str, now: Millis) -> Result<()>;
    /// Revokes every open session of an account; returns the ids revoked.
    async fn revoke_account_sessions(
        &self,
        tenant: Option<TenantId>,
        account: AccountId,
        reason: &str,
        now: Millis,
    ) -> Result<Vec<i64>>;
    async fn list_live_sessions(
        &self,
        tenant: TenantId,
        live_since: Millis,
    ) -> Result<Vec<LiveLogin>>;
}

/// Failed-login counters shared by every node.
#[async_trait]
pub trait ThrottleStore: Send + Sync {
    /// When `key` is locked, until when.
    async fn throttle_locked_until(&self, key: &str, now: Millis) -> Result<Option<Millis>>;
    /// Counts a failure. Once `max_failures` are reached the key is locked for `lock_for`
    /// and the count starts again; returns the lock's end when this failure set it.
    async fn throttle_fail(
        &self,
        key: &str,
        max_failures: i64,
        lock_for: Millis,
        now: Millis,
    ) -> Result<Option<Millis>>;
    async fn throttle_clear(&self, key: &str) -> Result<()>;
}

/// The audit log: who did what, when, from where.
#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn record_audit(&self, entry: NewAuditEntry) -> Result<()>;
    /// Newest first; `before` is the id of the last entry of the previous page.
    async fn list_audit(
        &self,
        tenant: Option<TenantId>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>>;
}

/// The IM app of each tenant and the IM accounts imported into it.
#[async_trait]
pub trait ImStore: Send + Sync {
    async fn get_im_app(&self, tenant: TenantId) -> Result<Option<ImApp>>;
    /// The app behind an SDKAppID. This lookup takes no tenant: the SDKAppID names it.
    async fn find_im_app(&self, sdk_app_id: i64) -> Result<Option<ImApp>>;
    async fn rotate_im_secret(&self, tenant: TenantId, secret: &str, now: Millis) -> Result<()>;
    /// Replaces the admin identifiers and/or the service accounts.
    async fn update_im_app(
        &self,
        tenant: TenantId,
        admins: Option<Vec<String>>,
        service_accounts: Option<Vec<ServiceAccount>>,
        now: Millis,
    ) -> Result<ImApp>;
    /// Imports an account, or updates its nick, face and kind if it exists.
    async fn import_im_account(&self, tenant: TenantId, account: &ImAccount) -> Result<()>;
    async fn get_im_account(&self, tenant: TenantId, user_id: &str) -> Result<Option<ImAccount>>;
    /// Sets where callbacks go (empty: nowhere) and the token that signs them (empty: none).
    async fn set_im_callback(
        &self,
        tenant: TenantId,
        url: &str,
        token: &str,
        now: Millis,
    ) -> Result<()>;
    /// Returns whether the account existed.
    async fn delete_im_account(&self, tenant: TenantId, user_id: &str) -> Result<bool>;
    /// Invalidates logins signed before `now`; returns whether the account exists.
    async fn kick_im_account(&self, tenant: TenantId, user_id: &str, now: Millis) -> Result<bool>;
    /// Records a socket login: the client's description (User-Agent, at most 512 bytes kept)
    /// and the time.
    async fn record_im_login(
        &self,
        tenant: TenantId,
        user_id: &str,
        device: &str,
        now: Millis,
    ) -> Result<()>;
    /// The device and time of the account's last socket login, if it has one.
    async fn last_im_login(
        &self,
        tenant: TenantId,
        user_id: &str,
    ) -> Result<Option<(String, Millis)>>;
}

/// C2C messages between two identifiers of a tenant.
#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Appends a message to the chat of its two parties, giving it the chat's next sequence.
    /// A message with the same sender, MsgSeq, MsgRandom and content CRC stored at or after
    /// `dedup_since` is not stored again; the original is returned as a duplicate.
    async fn append_message(
        &self,
        tenant: TenantId,
        message: NewMessage,
        dedup_since: Millis,
    ) -> Result<Appended>;
    /// The messages of a history window, newest first.
    async fn roam_messages(
        &self,
        tenant: TenantId,
        query: RoamQuery<'_>,
    ) -> Result<Vec<StoredMessage>> {
        Ok(self.roam_page(tenant, query).await?.1)
    }
    /// The chat of the two parties (with its read positions), if any, and the messages of a
    /// history window in it, newest first.
    async fn roam_page(
        &self,
        tenant: TenantId,
        query: RoamQuery<'_>,
    ) -> Result<(Option<Chat>, Vec<StoredMessage>)>;
    /// The message `m` would be a duplicate of (same sender, MsgSeq, MsgRandom and content
    /// CRC in the same chat since `dedup_since`), without storing anything.
    async fn find_duplicate(
        &self,
        tenant: TenantId,
        m: &NewMessage,
        dedup_since: Millis,
    ) -> Result<Option<StoredMessage>>;
    async fn find_message_by_key(
        &self,
        tenant: TenantId,
        a: &str,
        b: &str,
        msg_key: &str,
    ) -> Result<Option<StoredMessage>>;
    async fn recall_message(
        &self,
        tenant: TenantId,
        a: &str,
        b: &str,
        msg_key: &str,
    ) -> Result<Recall>;
    async fn get_chat(&self, tenant: TenantId, chat_id: i64) -> Result<Option<Chat>>;
    /// The chat between `a` and `b`, in either order, if they ever wrote.
    async fn chat_between(&self, tenant: TenantId, a: &str, b: &str) -> Result<Option<Chat>>;
    /// Records that `reader` has read the chat up to `seq` (capped at its last message).
    /// Read positions only move forward; returns the position after the call.
    async fn mark_read(
        &self,
        tenant: TenantId,
        chat_id: i64,
        reader: &str,
        seq: i64,
    ) -> Result<i64>;
    /// The chats `identity` takes part in, most recently active first, at most `limit`.
    async fn chats_of(&self, tenant: TenantId, identity: &str, limit: i64) -> Result<Vec<Chat>>;
    /// Messages of a chat with `seq > after_seq`, oldest first, at most `limit`.
    async fn messages_after(
        &self,
        tenant: TenantId,
        chat_id: i64,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<StoredMessage>>;
    /// The messages between `a` and `b` with `seq < before_seq`, newest first, at most `limit`.
    async fn messages_before(
        &self,
        tenant: TenantId,
        a: &str,
        b: &str,
        before_seq: i64,
        limit: i64,
    ) -> Result<Vec<StoredMessage>>;
    /// The messages between `a` and `b` stored in `[from, to)` (ms), oldest first, at most
    /// `limit`.
    async fn messages_in_period(
        &self,
        tenant: TenantId,
        a: &str,
        b: &str,
        from: Millis,
        to: Millis,
        limit: i64,
    ) -> Result<Vec<StoredMessage>>;
    /// Messages of the tenant matching `search` (text in any language, case-insensitive;
    /// period, sender, account, skill group), newest first, at most `search.limit`.
    async fn search_messages(
        &self,
        tenant: TenantId,
        search: &MessageSearch,
    ) -> Result<Vec<StoredMessage>>;
}

/// After-event callbacks waiting for delivery. The worker serves every tenant, so these calls
/// take none; each entry names its tenant.
#[async_trait]
pub trait CallbackStore: Send + Sync {
    async fn queue_callback(
        &self,
        tenant: TenantId,
        callback: NewCallback,
        now: Millis,
    ) -> Result<()>;
    /// Pending entries due at `now`, oldest first.
    async fn due_callbacks(&self, now: Millis, limit: i64) -> Result<Vec<OutboxEntry>>;
    /// Takes an entry for delivery until `lease_until`, if no other worker took it since it
    /// was read (its `next_attempt_at` is still `seen`).
    async fn claim_callback(&self, id: i64, seen: Millis, lease_until: Millis) -> Result<bool>;
    /// Records a delivery attempt: done, retried at `retry_at`, or failed for good.
    async fn finish_callback(&self, id: i64, outcome: CallbackOutcome, now: Millis) -> Result<()>;
    /// A tenant's entries, newest first, optionally of one status.
    async fn list_callbacks(
        &self,
        tenant: TenantId,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<OutboxEntry>>;
}

/// The conversation engine's state: agent status, routing settings, conversations, sessions and
/// their events. Every change that moves a conversation records its event in the same
/// transaction.
#[async_trait]
pub trait ConversationStore: Send + Sync {
    /// Sets an agent online or suspended. Going online is refused with
    /// [`StoreError::OnlineLimitReached`] when the plan's `max_online` agents are online; the
    /// count and the change happen under the tenant's lock.
    async fn set_agent_status(
        &self,
        tenant: TenantId,
        agent: AccountId,
        status: AgentStatus,
        now: Millis,
    ) -> Result<AgentState>;
    /// Every agent who has ever had a status; the others are suspended.
    async fn agent_states(&self, tenant: TenantId) -> Result<Vec<AgentState>>;
    async fn set_group_routing(
        &self,
        tenant: TenantId,
        group: SkillGroupId,
        routing: &GroupRouting,
        now: Millis,
    ) -> Result<()>;
    async fn group_routing(
        &self,
        tenant: TenantId,
        group: SkillGroupId,
    ) -> Result<Option<GroupRouting>>;
    /// A member's own cap in a group (`None`: the group's).
    async fn set_member_cap(
        &self,
        tenant: TenantId,
        group: SkillGroupId,
        agent: AccountId,
        cap: Option<i64>,
    ) -> Result<()>;
    /// The buyer's open conversation with a service account, opened (in `flow`) if there is
    /// none; true when it was opened now.
    async fn open_conversation(
        &self,
        tenant: TenantId,
        buyer: &str,
        service_account: &str,
        channel: &str,
        now: Millis,
    ) -> Result<(Conversation, bool)>;
    /// Puts a conversation with the bot, or in another queue, at the end of `group`'s queue.
    async fn enqueue(
        &self,
        tenant: TenantId,
        conversation: i64,
        group: SkillGroupId,
        actor: &str,
        now: Millis,
    ) -> Result<Conversation>;
    /// Gives the head of `group`'s queue to an online member with room, chosen by the group's
    /// strategy. `None` when the queue is empty, nobody has room, or the group is manual.
    async fn assign_next(
        &self,
        tenant: TenantId,
        group: SkillGroupId,
        now: Millis,
    ) -> Result<Option<Assignment>> {
        Ok(self
            .assign_batch(tenant, group, now, 1)
            .await?
            .into_iter()
            .next())
    }
    /// Assigns up to `max` buyers from the head of `group`'s queue, in order, in one
    /// transaction under the group's lock, stopping at the first buyer nobody has room for
    /// (strict FIFO). One lock taken for many buyers is what lets a busy group keep up: asks
    /// that arrive while a batch runs are served by the next batch together. An empty queue
    /// is seen without taking the lock.
    async fn assign_batch(
        &self,
        tenant: TenantId,
        group: SkillGroupId,
        now: Millis,
        max: usize,
    ) -> Result<Vec<Assignment>>;
    /// An online agent takes a queued conversation (manual pick, or an admin taking one).
    async fn take_conversation(
        &self,
        tenant: TenantId,
        conversation: i64,
        agent: AccountId,
        actor: &str,
        now: Millis,
    ) -> Result<Assignment>;
    /// Moves an assigned conversation from its agent to another agent or group: the current
    /// session ends (`transferred`), the agent's slot is freed, and for an agent a new session
    /// begins at once. The event carries from, to and the note.
    async fn transfer_conversation(
        &self,
        tenant: TenantId,
        conversation: i64,
        from: AccountId,
        to: TransferTarget,
        note: &str,
        now: Millis,
    ) -> Result<Conversation>;
    /// Ends a conversation in any state, freeing its agent's slot.
    async fn end_conversation(
        &self,
        tenant: TenantId,
        conversation: i64,
        end: EndRequest,
        now: Millis,
    ) -> Result<Conversation>;
    async fn get_conversation(&self, tenant: TenantId, id: i64) -> Result<Option<Conversation>>;
    /// Records an agent's reply: the session's first one once (`first_agent_reply`), and the
    /// time by which the buyer must answer (`None`: no reception timeout).
    async fn record_agent_reply(
        &self,
        tenant: TenantId,
        conversation: i64,
        session: i64,
        agent: AccountId,
        now: Millis,
        reply_deadline: Option<Millis>,
    ) -> Result<()>;
    /// Most recently changed first.
    async fn list_conversations(
        &self,
        tenant: TenantId,
        filter: &ConversationFilter,
    ) -> Result<Vec<Conversation>>;
    /// A group's queue in order: position = index + 1.
    async fn queue_of(&self, tenant: TenantId, group: SkillGroupId) -> Result<Vec<Conversation>>;
    async fn conversation_events(
        &self,
        tenant: TenantId,
        conversation: i64,
    ) -> Result<Vec<ConversationEvent>>;
}

/// What happens around a human conversation: the tenant's service settings, the reception
/// timeout, consoles that vanish and the conversations they leave behind, and ratings. The
/// timers are deadlines stored on the rows, found by any node's sweep; each change is
/// conditional, so two nodes sweeping at once act once.
#[async_trait]
pub trait ServiceStore: Send + Sync {
    /// The tenant's settings; the defaults when it never saved any.
    async fn service_settings(&self, tenant: TenantId) -> Result<ServiceSettings>;
    async fn save_service_settings(
        &self,
        tenant: TenantId,
        settings: &ServiceSettings,
        now: Millis,
    ) -> Result<()>;
    /// The buyer's conversation with a service account that has not ended.
    async fn open_conversation_of(
        &self,
        tenant: TenantId,
        buyer: &str,
        service_account: &str,
    ) -> Result<Option<Conversation>>;
    /// Buyer messages of the conversation that its customer-service account has not read
    /// (messages after the account's read position in the buyer's chat, since the
    /// conversation opened).
    async fn unread_count(&self, tenant: TenantId, conversation: &Conversation) -> Result<i64>;
    /// The buyer answered: the reception timeout waits for the agent's next message.
    async fn buyer_replied(&self, tenant: TenantId, conversation: i64) -> Result<()>;
    /// The groups offered to the buyer (JSON), or `None` once they chose.
    async fn set_pending_choice(
        &self,
        tenant: TenantId,
        conversation: i64,
        choice: Option<&str>,
    ) -> Result<()>;
    /// Assigned conversations whose buyer did not answer by the deadline, in every tenant.
    async fn due_timeouts(&self, now: Millis, limit: i64) -> Result<Vec<Conversation>>;
    /// A console of the agent is connected (on connect and as a heartbeat). True when it
    /// comes back after the grace period ran out: their conversations stop waiting to be
    /// re-queued.
    async fn console_seen(&self, tenant: TenantId, agent: AccountId, now: Millis) -> Result<bool>;
    /// Agents online or serving buyers whose consoles nobody has seen since `seen_before`.
    async fn lapsed_consoles(&self, seen_before: Millis, limit: i64) -> Result<Vec<LapsedConsole>>;
    /// Suspends a lapsed agent and marks their conversations RECOVER, to be re-queued at
    /// `requeue_at` if given. `None` when a console came back in the meantime.
    async fn console_lost(
        &self,
        tenant: TenantId,
        agent: AccountId,
        seen_before: Millis,
        requeue_at: Option<Millis>,
        now: Millis,
    ) -> Result<Option<Vec<Conversation>>>;
    /// Conversations due to go back to the queue, in every tenant.
    async fn due_requeues(&self, now: Millis, limit: i64) -> Result<Vec<Conversation>>;
    /// Takes a conversation from its vanished agent back to its group's queue, at the place
    /// it had; `None` if it is no longer due (the agent came back, or someone acted first).
    async fn requeue(
        &self,
        tenant: TenantId,
        conversation: i64,
        now: Millis,
    ) -> Result<Option<Conversation>>;
    async fn sessions_of(&self, tenant: TenantId, conversation: i64)
    -> Result<Vec<ServiceSession>>;
    /// The buyer's latest session with an agent on a service account, if any.
    async fn latest_session_of(
        &self,
        tenant: TenantId,
        buyer: &str,
        service_account: &str,
    ) -> Result<Option<ServiceSession>>;
    /// A rating card was sent for the session; it can be answered until `expires_at`.
    async fn rating_requested(
        &self,
        tenant: TenantId,
        session: i64,
        expires_at: Millis,
    ) -> Result<()>;
    /// Stores the buyer's rating (1–5) of a session, once, before its card expires.
    async fn rate_session(
        &self,
        tenant: TenantId,
        buyer: &str,
        session: i64,
        score: i64,
        label: &str,
        now: Millis,
    ) -> Result<RateOutcome>;
}

/// Consultation categories and message tags: two trees per tenant of the same shape, and the
/// tags agents put on messages.
#[async_trait]
pub trait TreeStore: Send + Sync {
    /// Every node, siblings by position.
    async fn tree(&self, tenant: TenantId, tree: Tree) -> Result<Vec<TreeNode>>;
    async fn create_node(
        &self,
        tenant: TenantId,
        tree: Tree,
        node: &NewTreeNode,
        now: Millis,
    ) -> Result<TreeNode>;
    /// Replaces a node's name, parent, position and groups. A node cannot move under itself.
    async fn update_node(
        &self,
        tenant: TenantId,
        tree: Tree,
        id: i64,
        node: &NewTreeNode,
    ) -> Result<TreeNode>;
    /// Deletes a leaf; a node with children, or a tag on messages, is refused with a reason.
    async fn delete_node(&self, tenant: TenantId, tree: Tree, id: i64) -> Result<()>;
    async fn tag_message(
        &self,
        tenant: TenantId,
        tag: &NewMessageTag,
        now: Millis,
    ) -> Result<MessageTag>;
    async fn untag_message(&self, tenant: TenantId, id: i64) -> Result<()>;
    /// Newest first.
    async fn message_tags(
        &self,
        tenant: TenantId,
        filter: &MessageTagFilter,
    ) -> Result<Vec<MessageTag>>;
}

/// casbin's rules, kept in the database so that every node and both backends share them.
#[async_trait]
pub trait PolicyStore: Send + Sync {
    async fn load_policy_rules(&self) -> Result<Vec<PolicyRule>>;
    /// Replaces every rule of `ptype` with `rules`, in one transaction.
    async fn replace_policy_rules(&self, ptype: &str, rules: &[PolicyRule]) -> Result<()>;
}

/// What answers a buyer before a human: the time plan, sensitive words, the FAQ and
/// knowledge base, service flows, and each conversation's place in its flow.
#[async_trait]
pub trait BotStore: Send + Sync {
    /// The tenant's time plan; always open when it never saved one.
    async fn schedule(&self, tenant: TenantId) -> Result<kefu_domain::schedule::Schedule>;
    async fn save_schedule(
        &self,
        tenant: TenantId,
        schedule: &kefu_domain::schedule::Schedule,
        now: Millis,
    ) -> Result<()>;
    async fn sensitive_words(&self, tenant: TenantId)
    -> Result<Vec<kefu_domain::moderation::Word>>;
    /// Replaces the whole list (a word listed twice keeps its last action).
    async fn replace_sensitive_words(
        &self,
        tenant: TenantId,
        words: &[kefu_domain::moderation::Word],
        now: Millis,
    ) -> Result<()>;
    /// Every entry of one tree, by parent and position, with its groups.
    async fn knowledge(&self, tenant: TenantId, kind: KnowledgeKind)
    -> Result<Vec<KnowledgeEntry>>;
    async fn get_knowledge(
        &self,
        tenant: TenantId,
        kind: KnowledgeKind,
        id: i64,
    ) -> Result<Option<KnowledgeEntry>>;
    /// Conflict when the parent or a group does not exist.
    async fn create_knowledge(
        &self,
        tenant: TenantId,
        kind: KnowledgeKind,
        entry: &NewKnowledge,
        now: Millis,
    ) -> Result<KnowledgeEntry>;
    /// Conflict when it would move under itself, or the parent or a group does not exist.
    async fn update_knowledge(
        &self,
        tenant: TenantId,
        kind: KnowledgeKind,
        id: i64,
        entry: &NewKnowledge,
        now: Millis,
    ) -> Result<KnowledgeEntry>;
    /// InUse while entries sit under it.
    async fn delete_knowledge(&self, tenant: TenantId, kind: KnowledgeKind, id: i64) -> Result<()>;
    /// Counts one use (a bot answer, a quick reply); false when it does not exist.
    async fn knowledge_used(&self, tenant: TenantId, kind: KnowledgeKind, id: i64) -> Result<bool>;
    async fn flows(&self, tenant: TenantId) -> Result<Vec<FlowRecord>>;
    async fn get_flow(&self, tenant: TenantId, id: i64) -> Result<Option<FlowRecord>>;
    /// Creates (`id` none) or updates a flow's draft. Conflict when the account already runs
    /// another flow.
    async fn save_flow(
        &self,
        tenant: TenantId,
        id: Option<i64>,
        name: &str,
        service_account: Option<&str>,
        draft: &str,
        now: Millis,
    ) -> Result<FlowRecord>;
    /// InUse while open conversations run one of its versions.
    async fn delete_flow(&self, tenant: TenantId, id: i64) -> Result<()>;
    /// Stores `doc` as the flow's next version and makes it the one new conversations run.
    async fn publish_flow(
        &self,
        tenant: TenantId,
        id: i64,
        doc: &str,
        by: &str,
        now: Millis,
    ) -> Result<FlowVersion>;
    /// Newest first.
    async fn flow_versions(&self, tenant: TenantId, flow: i64) -> Result<Vec<FlowVersion>>;
    async fn flow_version(&self, tenant: TenantId, version: i64) -> Result<Option<FlowVersion>>;
    /// The published version of the flow bound to `service_account`, if any.
    async fn published_flow_for(
        &self,
        tenant: TenantId,
        service_account: &str,
    ) -> Result<Option<FlowVersion>>;
    /// Moves a conversation still in the flow (false when it has left it) and sets or clears
    /// the deadline for the buyer's answer.
    async fn set_flow_position(
        &self,
        tenant: TenantId,
        conversation: i64,
        position: Option<&FlowPosition>,
        reply_deadline: Option<Millis>,
    ) -> Result<bool>;
    /// Appends a message as [`MessageStore::append_message`] does and, in the same
    /// transaction, moves its conversation as [`Self::set_flow_position`] does: the bot's
    /// answer and where the buyer then waits commit together.
    async fn append_then_move(
        &self,
        tenant: TenantId,
        message: NewMessage,
        dedup_since: Millis,
        then: FlowMove,
    ) -> Result<Appended>;
    /// Records the node a conversation that left the flow for a human belongs to (its
    /// transfer), whatever its state.
    async fn set_flow_node(&self, tenant: TenantId, conversation: i64, node: &str) -> Result<()>;
}

/// Each tenant's order provider.
#[async_trait]
pub trait OrderProviderStore: Send + Sync {
    /// `(url, secret)`, if the tenant set one.
    async fn order_provider(&self, tenant: TenantId) -> Result<Option<(String, String)>>;
    /// Sets (or, with `None`, removes) the provider.
    async fn save_order_provider(
        &self,
        tenant: TenantId,
        provider: Option<(&str, &str)>,
        now: Millis,
    ) -> Result<()>;
}

/// Rows for reports, by time range (milliseconds, `from` inclusive, `to` exclusive).
#[async_trait]
pub trait ReportStore: Send + Sync {
    /// Sessions that began in the range, oldest first. `now` bounds sessions still open.
    async fn session_rows(
        &self,
        tenant: TenantId,
        from: Millis,
        to: Millis,
        now: Millis,
    ) -> Result<Vec<SessionReportRow>>;
    /// Each agent's last status before `from`, then every change in the range, by agent and
    /// time: `(agent, "online" | "suspended", at)`.
    async fn status_changes(
        &self,
        tenant: TenantId,
        from: Millis,
        to: Millis,
    ) -> Result<Vec<(AccountId, String, Millis)>>;
    /// Transfers in the range: `(actor, detail JSON, at)`.
    async fn transfers(
        &self,
        tenant: TenantId,
        from: Millis,
        to: Millis,
    ) -> Result<Vec<(String, String, Millis)>>;
    /// Counts per UTC hour (`at / 3,600,000`) in the range, optionally of one skill group's
    /// conversations: buyers joining a queue, buyers who wrote, their messages, agents'
    /// replies. Hours with nothing are left out.
    async fn hourly_counts(
        &self,
        tenant: TenantId,
        from: Millis,
        to: Millis,
        group: Option<SkillGroupId>,
    ) -> Result<Vec<HourCounts>>;
    /// Every stay in a queue that overlaps the range, optionally in one skill group: from
    /// joining (`queued`) until leaving (assigned, accepted, ended or queued elsewhere);
    /// `left_at` is `None` while the buyer still waits. Stays that began more than a day
    /// before `from` are not looked for (the queue timeout ends them long before).
    async fn queue_stays(
        &self,
        tenant: TenantId,
        from: Millis,
        to: Millis,
        group: Option<SkillGroupId>,
    ) -> Result<Vec<QueueStay>>;
}

/// Which database is behind a [`Store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Everything the application needs from storage, as one handle.
#[async_trait]
pub trait Store:
    TenantStore
    + AccountStore
    + SkillGroupStore
    + SessionStore
    + ThrottleStore
    + AuditStore
    + PolicyStore
    + ImStore
    + MessageStore
    + CallbackStore
    + ConversationStore
    + ServiceStore
    + TreeStore
    + BotStore
    + OrderProviderStore
    + ReportStore
{
    fn backend(&self) -> Backend;
    /// A round trip to the database, for readiness checks.
    async fn ping(&self) -> Result<()>;
}

/// Opens the database named by `url`, applies migrations and returns the store.
///
/// `sqlite:` URLs (and bare paths) open or create a SQLite file in WAL mode; `postgres:` and
/// `postgresql:` URLs connect to PostgreSQL. Anything else is refused with a message that
/// names `KEFU_DATABASE_URL`.
pub async fn connect(url: &str, max_connections: u32) -> Result<Arc<dyn Store>, ConnectError> {
    let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or("");
    match scheme {
        "sqlite" => Ok(Arc::new(SqliteStore::connect(url, max_connections).await?)),
        "postgres" | "postgresql" => Ok(Arc::new(PgStore::connect(url, max_connections).await?)),
        other => Err(ConnectError::UnknownScheme(other.to_string())),
    }
}

/// Names of the migrations for each backend, for the check that both trees agree.
pub fn migration_names() -> (Vec<String>, Vec<String>) {
    let names = |m: &sqlx::migrate::Migrator| {
        m.iter()
            .map(|m| format!("{}_{}", m.version, m.description))
            .collect::<Vec<_>>()
    };
    (names(&sqlite::MIGRATOR), names(&postgres::MIGRATOR))
}
