//! Events that cross node boundaries through the bus.

use serde::{Deserialize, Serialize};

use crate::{AccountId, TenantId};

/// Bus topics. One constant per topic so that publishers and subscribers cannot drift apart.
pub mod topic {
    /// Role assignments or permissions changed; every node reloads its authorization policy.
    pub const POLICY: &str = "policy";
    /// A login session was revoked (kick, logout, replaced); realtime connections close.
    pub const SESSIONS: &str = "sessions";
    /// A message was stored or recalled; delivery and the conversation engine react.
    pub const MESSAGES: &str = "messages";
    /// Online-only signals (typing, read receipts): delivered to live sockets, never stored
    /// as messages.
    pub const SIGNALS: &str = "signals";
    /// A conversation moved (queued, assigned, ended…) or a queue changed; consoles refresh.
    pub const CONVERSATIONS: &str = "conversations";
}

/// What happened to a conversation, for the consoles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationChange {
    Queued,
    Assigned,
    Transferred,
    Ended,
    /// The agent's consoles vanished past the grace period: the conversation stays theirs,
    /// marked RECOVER.
    Recover,
    /// Taken back from a vanished agent into its group's queue.
    Requeued,
    /// The buyer wrote to the agent serving them; the console reads the new messages.
    Message,
}

/// What a stored message carries besides its place in the chat: enough to push it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageContent {
    pub msg_key: String,
    pub msg_time: i64,
    /// The stored MsgBody JSON.
    pub body: String,
    pub cloud_custom_data: String,
}

/// What travels on the bus. Tagged so that new kinds can be added without breaking old nodes:
/// a node that does not know a kind logs and skips it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    PolicyChanged,
    SessionRevoked {
        tenant_id: Option<TenantId>,
        account_id: AccountId,
        session_id: i64,
        reason: String,
    },
    /// A message was stored in a chat (never for a duplicate).
    MessageStored {
        tenant_id: TenantId,
        chat_id: i64,
        seq: i64,
        from_account: String,
        to_account: String,
        /// The message itself, so that sockets push it without reading it back. Sockets that
        /// missed the one before read from the store instead, as they do for events without it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<Box<MessageContent>>,
    },
    /// A message was recalled (`MsgFlagBits` 8).
    MessageRecalled {
        tenant_id: TenantId,
        chat_id: i64,
        seq: i64,
        from_account: String,
        to_account: String,
    },
    /// An IM account was kicked (`im_open_login_svc/kick`): its sockets signed before `at`
    /// (ms) close.
    ImKicked {
        tenant_id: TenantId,
        user_id: String,
        at: i64,
    },
    /// `from` is typing to `to`.
    Typing {
        tenant_id: TenantId,
        from: String,
        to: String,
    },
    /// `reader` has read chat `chat_id` up to `seq`; `peer` is told.
    Read {
        tenant_id: TenantId,
        chat_id: i64,
        reader: String,
        peer: String,
        seq: i64,
    },
    /// A conversation changed; its agent's consoles are told.
    Conversation {
        tenant_id: TenantId,
        conversation_id: i64,
        agent_id: Option<AccountId>,
        skill_group_id: Option<crate::SkillGroupId>,
        change: ConversationChange,
    },
    /// The queue of a skill group changed (someone joined, left or was assigned).
    QueueChanged {
        tenant_id: TenantId,
        skill_group_id: crate::SkillGroupId,
    },
    /// Free-form payload, used by tests and diagnostics.
    Note {
        text: String,
    },
}
