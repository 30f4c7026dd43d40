//! The values that go in and out of the stores.

use kefu_domain::clock::Millis;
use kefu_domain::{AccountId, Role, SkillGroupId, TenantId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: TenantId,
    pub code: String,
    pub name: String,
    pub max_accounts: i64,
    pub max_online: i64,
    pub disabled: bool,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone)]
pub struct NewTenant {
    pub code: String,
    pub name: String,
    pub max_accounts: i64,
    pub max_online: i64,
    /// The IM app's secret key, created with the tenant.
    pub im_secret: String,
}

#[derive(Debug, Clone, Default)]
pub struct TenantPatch {
    pub name: Option<String>,
    pub max_accounts: Option<i64>,
    pub max_online: Option<i64>,
    pub disabled: Option<bool>,
}

/// Seats used against the plan. The owner does not count against `max_accounts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeatUsage {
    pub accounts: i64,
    pub max_accounts: i64,
    pub max_online: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    /// `None` for platform operators.
    pub tenant_id: Option<TenantId>,
    pub username: String,
    pub display_name: String,
    pub real_name: String,
    pub phone: String,
    pub email: String,
    pub role: Role,

    pub password_hash: String,
    pub must_change_password: bool,
    /// The first super admin, created with the tenant. Not counted against the plan and
    /// cannot be deleted, disabled or demoted.
    pub is_owner: bool,
    pub disabled: bool,
    pub skill_group_ids: Vec<SkillGroupId>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone)]
pub struct NewAccount {
    pub username: String,
    pub display_name: String,
    pub real_name: String,
    pub phone: String,
    pub email: String,
    pub role: Role,
    pub password_hash: String,
    pub must_change_password: bool,
    pub skill_group_ids: Vec<SkillGroupId>,
}

#[derive(Debug, Clone, Default)]
pub struct AccountPatch {
    pub display_name: Option<String>,
    pub real_name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    pub skill_group_ids: Option<Vec<SkillGroupId>>,
}

/// Filters for the seat list; every field narrows, `None` means any.
#[derive(Debug, Clone, Default)]
pub struct AccountFilter {
    /// Matches username, display name, real name or phone, case-insensitively.
    pub text: Option<String>,
    pub role: Option<Role>,
    pub skill_group: Option<SkillGroupId>,
    pub disabled: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkillGroup {
    pub id: SkillGroupId,
    pub tenant_id: TenantId,
    pub name: String,
    /// The tenant's own code for the group.
    pub identifier: String,
    pub phone: String,
    /// What buyers see when they pick a group.
    pub client_name: String,
    pub visible_to_buyers: bool,
    /// Conversations one member serves at once, unless the member has their own cap.
    pub agent_cap: i64,
    pub strategy: Strategy,
    pub created_at: Millis,
}

#[derive(Debug, Clone)]
pub struct NewSession {
    pub tenant_id: Option<TenantId>,
    pub account_id: AccountId,
    pub token_hash: String,
    pub ip: String,
    pub user_agent: String,
    pub now: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: i64,
    pub tenant_id: Option<TenantId>,
    pub account_id: AccountId,
    pub ip: String,
    pub user_agent: String,
    pub created_at: Millis,
    pub last_seen_at: Millis,
}

/// A live login, as admins see it in the kick list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveLogin {
    pub session: Session,
    pub username: String,
    pub display_name: String,
    pub role: Role,
}

#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    pub tenant_id: Option<TenantId>,
    pub actor_id: Option<AccountId>,
    /// The actor's username at the time, kept even if the account is deleted later.
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub ip: String,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: i64,
    pub tenant_id: Option<TenantId>,
    pub actor_id: Option<AccountId>,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub ip: String,
    pub created_at: Millis,
}

/// One casbin rule: `ptype` is `p` or `g`, `values` its fields in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRule {
    pub ptype: String,
    pub values: Vec<String>,
}

impl PolicyRule {
    pub fn new(ptype: &str, values: &[&str]) -> Self {
        Self {
            ptype: ptype.into(),
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }
}

/// SDKAppIDs are 1400000000 plus the tenant id: unique, and in the range Tencent's
/// domestic apps use, which some clients check.
pub const SDK_APP_ID_BASE: i64 = 1_400_000_000;

/// A tenant's IM app: how IM clients and the tenant's back end reach its customer service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImApp {
    pub tenant_id: TenantId,
    pub sdk_app_id: i64,
    pub secret_key: String,
    /// Identifiers that may call the REST API (default `administrator`).
    pub admin_identifiers: Vec<String>,
    pub service_accounts: Vec<ServiceAccount>,
    /// Where callbacks go; empty means none.
    pub callback_url: String,
    /// When set, callbacks carry `Sign` and `RequestTime`.
    pub callback_token: String,
    pub updated_at: Millis,
}

impl ImApp {
    /// The customer-service account with this identifier, if it is one.
    pub fn service_account(&self, identifier: &str) -> Option<&ServiceAccount> {
        self.service_accounts
            .iter()
            .find(|a| a.identifier == identifier)
    }

    /// Whether `identifier` is one of the app's admins.
    pub fn is_admin(&self, identifier: &str) -> bool {
        self.admin_identifiers.iter().any(|a| a == identifier)
    }

    /// Whether `identifier` exists in the app without being imported: an admin or a
    /// customer-service account.
    pub fn is_built_in(&self, identifier: &str) -> bool {
        self.is_admin(identifier) || self.service_account(identifier).is_some()
    }
}

/// A callback to queue in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCallback {
    pub command: String,
    /// The JSON body.
    pub body: String,
}

/// The result of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackOutcome {
    Delivered,
    Retry { at: Millis, error: String },
    Failed { error: String },
}

/// A callback in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub id: i64,
    pub tenant_id: TenantId,
    pub command: String,
    pub body: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Millis,
    pub last_error: String,
    pub created_at: Millis,
}

/// A customer-service account (`@customer_service_account`), bound to a skill group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccount {
    pub identifier: String,
    pub skill_group_id: Option<SkillGroupId>,
}

/// An account imported into the IM app: a buyer, or a robot (`kind` 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImAccount {
    pub user_id: String,
    pub nick: String,
    pub face_url: String,
    pub kind: i64,
    pub created_at: Millis,
    pub kicked_at: Option<Millis>,
}

/// A message to append to a chat.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub from_account: String,
    pub to_account: String,
    pub msg_seq: i64,
    pub msg_random: i64,
    /// Unix seconds.
    pub msg_time: i64,
    /// CRC32 of the MsgBody, for de-duplication.
    pub content_crc: i64,
    /// The MsgBody JSON.
    pub body: String,
    pub cloud_custom_data: String,
    /// Searchable text of the body.
    pub text: String,
    pub created_at: Millis,
    /// An after-send callback to queue with the message, in the same transaction. Not
    /// queued for a duplicate.
    pub callback: Option<NewCallback>,
    /// Who wrote it on the service side: `agent`, `robot`, `system`; empty for messages that
    /// came through the IM protocol.
    pub sender_role: String,
    /// The agent who wrote it, when `sender_role` is `agent`.
    pub agent_id: Option<AccountId>,
}

impl NewMessage {
    /// `{MsgSeq}_{MsgRandom}_{MsgTime}`, the protocol's message key.
    pub fn msg_key(&self) -> String {
        format!("{}_{}_{}", self.msg_seq, self.msg_random, self.msg_time)
    }
}

/// A stored message with its place in the chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub id: i64,
    pub chat_id: i64,
    /// Position in the chat: 1, 2, 3… with no gaps.
    pub seq: i64,
    pub from_account: String,
    pub to_account: String,
    pub msg_seq: i64,
    pub msg_random: i64,
    pub msg_time: i64,
    pub msg_key: String,
    pub body: String,
    pub cloud_custom_data: String,
    pub flag_bits: i64,
    pub created_at: Millis,
    /// See [`NewMessage::sender_role`].
    pub sender_role: String,
    pub agent_id: Option<AccountId>,
}

impl StoredMessage {
    /// The bus event announcing this message, carrying it so that sockets need not read it back.
    pub fn stored_event(&self, tenant: TenantId) -> kefu_domain::event::Event {
        kefu_domain::event::Event::MessageStored {
            tenant_id: tenant,
            chat_id: self.chat_id,
            seq: self.seq,
            from_account: self.from_account.clone(),
            to_account: self.to_account.clone(),
            content: Some(Box::new(kefu_domain::event::MessageContent {
                msg_key: self.msg_key.clone(),
                msg_time: self.msg_time,
                body: self.body.clone(),
                cloud_custom_data: self.cloud_custom_data.clone(),
            })),
        }
    }
}

/// Bit set in `flag_bits` on a recalled message.
pub const FLAG_RECALLED: i64 = 8;

/// The result of an append: the stored message, and whether it was already there (a
/// duplicate within the window, answered as the original).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub message: StoredMessage,
    pub duplicate: bool,
}

/// A point in a chat's order (time, then MsgSeq, then store sequence), for paging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoamCursor {
    pub msg_time: i64,
    pub msg_seq: i64,
    pub seq: i64,
}

/// A window of a chat's history: messages between `a` and `b` with
/// `min_time <= msg_time <= max_time`, strictly before `before` when given.
#[derive(Debug, Clone)]
pub struct RoamQuery<'a> {
    pub a: &'a str,
    pub b: &'a str,
    pub min_time: i64,
    pub max_time: i64,
    pub before: Option<RoamCursor>,
    pub limit: i64,
}

impl<'a> RoamQuery<'a> {
    /// Everything between `a` and `b`, newest first, at most `limit`.
    pub fn all(a: &'a str, b: &'a str, limit: i64) -> Self {
        Self {
            a,
            b,
            min_time: i64::MIN,
            max_time: i64::MAX,
            before: None,
            limit,
        }
    }
}

/// The outcome of a recall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recall {
    Recalled,
    AlreadyRecalled,
    NotFound,
}

/// A chat between two identifiers, as its parties see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chat {
    pub id: i64,
    pub user_a: String,
    pub user_b: String,
    pub last_seq: i64,
    pub updated_at: Millis,
    /// How far `user_a` and `user_b` have read.
    pub a_read_seq: i64,
    pub b_read_seq: i64,
}

impl Chat {
    pub fn has_party(&self, identity: &str) -> bool {
        self.user_a == identity || self.user_b == identity
    }

    /// How far `identity` has read.
    pub fn read_seq_of(&self, identity: &str) -> i64 {
        if self.user_a == identity {
            self.a_read_seq
        } else {
            self.b_read_seq
        }
    }

    /// The other party, seen from `identity`.
    pub fn peer_of(&self, identity: &str) -> &str {
        if self.user_a == identity {
            &self.user_b
        } else {
            &self.user_a
        }
    }
}

/// Whether an agent takes new conversations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentStatus {
    Online,
    Suspended,
}

impl AgentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Online => "online",
            AgentStatus::Suspended => "suspended",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "online" => Some(AgentStatus::Online),
            "suspended" => Some(AgentStatus::Suspended),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentState {
    pub account_id: AccountId,
    pub status: AgentStatus,
    pub status_since: Millis,
    /// Conversations assigned to the agent now.
    pub active: i64,
    pub last_assigned_at: Millis,
    /// Conversations this agent transferred inside their group, and to another group.
    pub transfers_within: i64,
    pub transfers_across: i64,
}

/// How a skill group hands out its queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Lowest load ÷ capacity first; ties go to the agent idle longest.
    LeastBusy,
    /// Members in turn, by account id, skipping those without room.
    RoundRobin,
    /// The agent whose last assignment is oldest.
    LongestIdle,
    /// Nobody is assigned automatically; agents take buyers from the queue.
    Manual,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::LeastBusy => "least_busy",
            Strategy::RoundRobin => "round_robin",
            Strategy::LongestIdle => "longest_idle",
            Strategy::Manual => "manual",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "least_busy" => Some(Strategy::LeastBusy),
            "round_robin" => Some(Strategy::RoundRobin),
            "longest_idle" => Some(Strategy::LongestIdle),
            "manual" => Some(Strategy::Manual),
            _ => None,
        }
    }
}

/// A skill group's routing settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRouting {
    /// Conversations one agent serves at once (接待人数上限), unless the member has their own.
    pub agent_cap: i64,
    pub strategy: Strategy,
}

impl Default for GroupRouting {
    fn default() -> Self {
        Self {
            agent_cap: 3,
            strategy: Strategy::LeastBusy,
        }
    }
}

/// Where a conversation is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConversationState {
    /// With the service flow or bot.
    Flow,
    Queued,
    Assigned,
    Ended,
}

impl ConversationState {
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationState::Flow => "flow",
            ConversationState::Queued => "queued",
            ConversationState::Assigned => "assigned",
            ConversationState::Ended => "ended",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "flow" => Some(ConversationState::Flow),
            "queued" => Some(ConversationState::Queued),
            "assigned" => Some(ConversationState::Assigned),
            "ended" => Some(ConversationState::Ended),
            _ => None,
        }
    }
}

/// One visit of a buyer to a customer-service account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    pub id: i64,
    pub tenant_id: TenantId,
    pub buyer: String,
    pub service_account: String,
    pub channel: String,
    pub skill_group_id: Option<SkillGroupId>,
    pub state: ConversationState,
    pub queued_at: Option<Millis>,
    pub agent_id: Option<AccountId>,
    /// The current (or last) agent session.
    pub session_id: Option<i64>,
    /// Restored to its agent after an abnormal exit; cleared when it ends.
    pub recover: bool,
    pub end_reason: Option<String>,
    pub ended_by: Option<String>,
    pub ended_at: Option<Millis>,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// When the buyer must have answered the agent (reception timeout); `None` while the
    /// agent owes the reply.
    pub reply_deadline: Option<Millis>,
    /// When it goes back to the queue because its agent's consoles vanished.
    pub requeue_at: Option<Millis>,
    /// The skill groups offered to the buyer in a menu, as JSON, while they choose.
    pub pending_choice: Option<String>,
    /// Where it is in its service flow, if it started one.
    pub flow: Option<FlowPosition>,
}

/// A conversation's place in the published flow version it started on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FlowPosition {
    /// The `flow_versions` row: republishing never moves a running conversation.
    pub version: i64,
    /// The node it waits at (a branch, the bot, or a transfer while a human serves).
    pub node: String,
    /// Wrong answers so far at the branch it waits at.
    pub tries: i64,
    /// The FAQ entry the bot last answered with, and how many times in a row.
    pub bot_answer: Option<i64>,
    pub bot_repeats: i64,
}

/// Where a conversation still in its flow goes next (see
/// [`crate::BotStore::set_flow_position`]): its position, or none to leave the flow's node,
/// and the deadline for the buyer's answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FlowMove {
    pub conversation: i64,
    pub position: Option<FlowPosition>,
    pub reply_deadline: Option<Millis>,
}

/// A buyer given to an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub conversation: Conversation,
    pub agent_id: AccountId,
    pub session_id: i64,
}

/// Why and how a conversation ends.
#[derive(Debug, Clone, Default)]
pub struct EndRequest {
    /// `agent`, `buyer_left`, `timeout`, `admin`.
    pub reason: String,
    /// Who: `account:7`, `buyer:u1`, `system`.
    pub actor: String,
    /// Consultation category ids chosen by the agent.
    pub categories: Vec<i64>,
    pub note: String,
    /// Only if the buyer's reply deadline has passed by then (the reception timeout's sweep):
    /// a buyer who answered in the meantime keeps the conversation.
    pub due_by: Option<Millis>,
}

/// One UTC hour of the hourly report (分时统计).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HourCounts {
    /// Milliseconds since the epoch / 3,600,000.
    pub hour: i64,
    pub queued: i64,
    pub buyers: i64,
    pub buyer_messages: i64,
    pub replies: i64,
}

/// One buyer's stay in a skill group's queue (for the quality overview, 工作质量概览).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueStay {
    pub skill_group_id: Option<SkillGroupId>,
    pub queued_at: Millis,
    pub left_at: Option<Millis>,
}

/// A message search (消息管理): every part is optional; results are newest first.
#[derive(Debug, Clone, Default)]
pub struct MessageSearch {
    /// Text the message contains (any language, case-insensitive); empty: any.
    pub text: String,
    /// Stored at or after (ms).
    pub from: Option<Millis>,
    /// Stored before (ms).
    pub to: Option<Millis>,
    /// `buyer`, `agent` or `robot` (the bot, flows and notices).
    pub role: Option<String>,
    /// Written by this agent.
    pub agent: Option<AccountId>,
    /// Sent or received by this IM account (a buyer's id, say).
    pub account: Option<String>,
    /// In a conversation of this skill group.
    pub skill_group: Option<SkillGroupId>,
    /// Older than this message id (the next page).
    pub before_id: Option<i64>,
    pub limit: i64,
}

impl MessageSearch {
    /// Whether nothing was asked for (no text, no filter): such a search finds nothing.
    pub fn is_empty(&self) -> bool {
        self.text.trim().is_empty()
            && self.from.is_none()
            && self.to.is_none()
            && self.role.is_none()
            && self.agent.is_none()
            && self.account.is_none()
            && self.skill_group.is_none()
    }

    /// Text only, as the protocol's search uses it.
    pub fn text(text: &str, limit: i64) -> Self {
        Self {
            text: text.to_string(),
            limit,
            ..Default::default()
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ConversationFilter {
    pub agent: Option<AccountId>,
    pub state: Option<ConversationState>,
    pub skill_group: Option<SkillGroupId>,
    /// Only conversations not ended (queued, assigned, flow).
    pub open_only: bool,
    /// Only this buyer's conversations.
    pub buyer: Option<String>,
    pub limit: i64,
}

/// A milestone of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationEvent {
    pub id: i64,
    pub conversation_id: i64,
    pub session_id: Option<i64>,
    pub kind: String,
    pub actor: String,
    pub detail: String,
    pub at: Millis,
}

/// Where a conversation is transferred.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferTarget {
    /// Another online agent, who gets it at once (past their cap if need be).
    Agent(AccountId),
    /// The end of another skill group's queue.
    Group(SkillGroupId),
    /// Back to the buyer, who is offered a menu of groups; the conversation waits in `flow`.
    BuyerChoice,
}

/// An agent's session (子会话) of a conversation, with how it ended and was rated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSession {
    pub id: i64,
    pub conversation_id: i64,
    pub agent_id: Option<AccountId>,
    pub skill_group_id: Option<SkillGroupId>,
    pub started_at: Millis,
    pub first_reply_at: Option<Millis>,
    pub ended_at: Option<Millis>,
    pub end_reason: Option<String>,
    /// Consultation category ids.
    pub categories: Vec<i64>,
    pub note: String,
    /// 1–5.
    pub rating: Option<i64>,
    pub rating_label: String,
    pub rated_at: Option<Millis>,
    /// Until when the rating card sent for it can be answered; `None`: none was sent.
    pub rating_expires_at: Option<Millis>,
}

/// How a rating was received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateOutcome {
    Rated(Box<ServiceSession>),
    /// No session of this buyer has that id (or no agent has served them yet).
    Unknown,
    /// The rating card expired, or none was sent for that session.
    Expired,
    AlreadyRated,
}

/// A conversation whose agent's consoles are gone: (tenant, agent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LapsedConsole {
    pub tenant_id: TenantId,
    pub agent_id: AccountId,
}

/// Which tree: consultation categories (咨询分类) or message tags (会话标签).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tree {
    Categories,
    Tags,
}

impl Tree {
    pub(crate) fn table(self) -> &'static str {
        match self {
            Tree::Categories => "categories",
            Tree::Tags => "tags",
        }
    }

    pub fn noun(self) -> &'static str {
        match self {
            Tree::Categories => "category",
            Tree::Tags => "tag",
        }
    }
}

/// One node of a category or tag tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeNode {
    pub id: i64,
    pub parent_id: Option<i64>,
    pub name: String,
    pub position: i64,
    /// Categories only: the skill groups that offer it (empty: all).
    pub skill_group_ids: Vec<SkillGroupId>,
    pub created_at: Millis,
}

#[derive(Debug, Clone, Default)]
pub struct NewTreeNode {
    pub parent_id: Option<i64>,
    pub name: String,
    pub position: i64,
    pub skill_group_ids: Vec<SkillGroupId>,
}

/// A tag put on one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageTag {
    pub id: i64,
    pub tag_id: i64,
    pub tag_name: String,
    pub conversation_id: i64,
    pub chat_id: i64,
    pub seq: i64,
    pub buyer: String,
    pub agent_id: Option<AccountId>,
    pub note: String,
    pub created_at: Millis,
    /// The tagged message's searchable text.
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct NewMessageTag {
    pub tag_id: i64,
    pub conversation_id: i64,
    pub seq: i64,
    pub agent_id: AccountId,
    pub note: String,
}

#[derive(Debug, Clone, Default)]
pub struct MessageTagFilter {
    pub agent: Option<AccountId>,
    pub buyer: Option<String>,
    pub tag: Option<i64>,
    /// Part of the note.
    pub note: Option<String>,
    pub from: Option<Millis>,
    pub to: Option<Millis>,
    pub limit: i64,
}

/// A skill group's editable fields.
#[derive(Debug, Clone, Default)]
pub struct SkillGroupPatch {
    pub name: Option<String>,
    pub identifier: Option<String>,
    pub phone: Option<String>,
    pub client_name: Option<String>,
    pub visible_to_buyers: Option<bool>,
    pub agent_cap: Option<i64>,
    pub strategy: Option<Strategy>,
}

/// FAQ (answered to buyers by the bot) or knowledge base (agents' quick replies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KnowledgeKind {
    Faq,
    Kb,
}

impl KnowledgeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KnowledgeKind::Faq => "faq",
            KnowledgeKind::Kb => "kb",
        }
    }

    pub fn noun(self) -> &'static str {
        match self {
            KnowledgeKind::Faq => "FAQ entry",
            KnowledgeKind::Kb => "knowledge-base entry",
        }
    }
}

/// One entry of the FAQ or knowledge-base tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnowledgeEntry {
    pub id: i64,
    pub kind: KnowledgeKind,
    pub parent_id: Option<i64>,
    pub title: String,
    /// `text` or `image` (the answer is then the image's URL).
    pub answer_kind: String,
    pub answer: String,
    pub keywords: Vec<String>,
    pub enabled: bool,
    pub is_new: bool,
    pub valid_from: Option<Millis>,
    pub valid_to: Option<Millis>,
    pub uses: i64,
    pub position: i64,
    /// The skill groups this subtree is assigned to (empty: inherited from its parent).
    pub skill_group_ids: Vec<SkillGroupId>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl KnowledgeEntry {
    /// Enabled and within its validity period at `now`.
    pub fn live(&self, now: Millis) -> bool {
        self.enabled
            && self.valid_from.is_none_or(|f| f <= now)
            && self.valid_to.is_none_or(|t| now <= t)
    }
}

/// What an admin writes for an entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewKnowledge {
    pub parent_id: Option<i64>,
    pub title: String,
    pub answer_kind: String,
    pub answer: String,
    pub keywords: Vec<String>,
    pub enabled: bool,
    pub is_new: bool,
    pub valid_from: Option<Millis>,
    pub valid_to: Option<Millis>,
    /// `None`: after its last sibling.
    pub position: Option<i64>,
    pub skill_group_ids: Vec<SkillGroupId>,
}

/// A service flow: its draft and its published version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRecord {
    pub id: i64,
    pub name: String,
    pub service_account: Option<String>,
    pub draft: String,
    /// The `flow_versions` id conversations start on.
    pub published_version: Option<i64>,
    pub published_number: Option<i64>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// One published, immutable version of a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowVersion {
    pub id: i64,
    pub flow_id: i64,
    pub version: i64,
    pub doc: String,
    pub published_at: Millis,
    pub published_by: String,
}

/// One agent session with what reports need: its conversation's buyer and entry, when the
/// buyer last joined a queue before it, the session before it, and its message counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionReportRow {
    pub session_id: i64,
    pub conversation_id: i64,
    pub buyer: String,
    pub agent_id: Option<AccountId>,
    pub skill_group_id: Option<SkillGroupId>,
    /// When the buyer's conversation opened.
    pub entered_at: Millis,
    /// The last time the buyer joined a queue before this session began.
    pub queued_at: Option<Millis>,
    /// When the conversation's previous session began, if any.
    pub previous_session_at: Option<Millis>,
    pub started_at: Millis,
    pub first_reply_at: Option<Millis>,
    pub ended_at: Option<Millis>,
    pub end_reason: Option<String>,
    pub categories: Vec<i64>,
    pub rating: Option<i64>,
    /// The agent's messages to the buyer during the session.
    pub agent_messages: i64,
    /// The buyer's messages during the session.
    pub buyer_messages: i64,
}
