//! Rows as the databases return them, before they become domain values.

use crate::model::*;
use kefu_domain::{AccountId, Role, SkillGroupId, TenantId};

#[derive(sqlx::FromRow)]
pub(crate) struct TenantRow {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub max_accounts: i64,
    pub max_online: i64,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<TenantRow> for Tenant {
    fn from(r: TenantRow) -> Self {
        Tenant {
            id: TenantId(r.id),
            code: r.code,
            name: r.name,
            max_accounts: r.max_accounts,
            max_online: r.max_online,
            disabled: r.disabled,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AccountRow {
    pub id: i64,
    pub tenant_id: Option<i64>,
    pub username: String,
    pub display_name: String,
    pub real_name: String,
    pub phone: String,
    pub email: String,
    pub role: String,
    pub password_hash: String,
    pub must_change_password: bool,
    pub is_owner: bool,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl AccountRow {
    pub fn into_account(self, skill_group_ids: Vec<SkillGroupId>) -> Account {
        Account {
            id: AccountId(self.id),
            tenant_id: self.tenant_id.map(TenantId),
            username: self.username,
            display_name: self.display_name,
            real_name: self.real_name,
            phone: self.phone,
            email: self.email,
            // The column is only ever written from `Role::as_str`.
            role: self.role.parse().unwrap_or(Role::Agent),
            password_hash: self.password_hash,
            must_change_password: self.must_change_password,
            is_owner: self.is_owner,
            disabled: self.disabled,
            skill_group_ids,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    pub id: i64,
    pub tenant_id: Option<i64>,
    pub account_id: i64,
    pub ip: String,
    pub user_agent: String,
    pub created_at: i64,
    pub last_seen_at: i64,
}

impl From<SessionRow> for Session {
    fn from(r: SessionRow) -> Self {
        Session {
            id: r.id,
            tenant_id: r.tenant_id.map(TenantId),
            account_id: AccountId(r.account_id),
            ip: r.ip,
            user_agent: r.user_agent,
            created_at: r.created_at,
            last_seen_at: r.last_seen_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct LiveLoginRow {
    #[sqlx(flatten)]
    pub session: SessionRow,
    pub username: String,
    pub display_name: String,
    pub role: String,
}

#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
    pub id: i64,
    pub tenant_id: Option<i64>,
    pub actor_id: Option<i64>,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub ip: String,
    pub created_at: i64,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> Self {
        AuditEntry {
            id: r.id,
            tenant_id: r.tenant_id.map(TenantId),
            actor_id: r.actor_id.map(AccountId),
            actor: r.actor,
            action: r.action,
            target: r.target,
            detail: r.detail,
            ip: r.ip,
            created_at: r.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SkillGroupRow {
    pub id: i64,
    pub tenant_id: i64,
    pub name: String,
    pub identifier: String,
    pub phone: String,
    pub client_name: String,
    pub visible_to_buyers: bool,
    pub agent_cap: i64,
    pub strategy: String,
    pub created_at: i64,
}

/// The columns [`SkillGroupRow`] reads.
macro_rules! SKILL_GROUP_COLUMNS {
    () => {
        "id, tenant_id, name, identifier, phone, client_name, visible_to_buyers, agent_cap, strategy, created_at"
    };
}
pub(crate) use SKILL_GROUP_COLUMNS;

impl From<SkillGroupRow> for SkillGroup {
    fn from(r: SkillGroupRow) -> Self {
        SkillGroup {
            id: SkillGroupId(r.id),
            tenant_id: TenantId(r.tenant_id),
            name: r.name,
            identifier: r.identifier,
            phone: r.phone,
            client_name: r.client_name,
            visible_to_buyers: r.visible_to_buyers,
            agent_cap: r.agent_cap,
            strategy: crate::Strategy::parse(&r.strategy).unwrap_or(crate::Strategy::LeastBusy),
            created_at: r.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct PolicyRow {
    pub ptype: String,
    pub v0: String,
    pub v1: String,
    pub v2: String,
    pub v3: String,
    pub v4: String,
    pub v5: String,
}

impl From<PolicyRow> for PolicyRule {
    fn from(r: PolicyRow) -> Self {
        let mut values = vec![r.v0, r.v1, r.v2, r.v3, r.v4, r.v5];
        while values.last().is_some_and(String::is_empty) {
            values.pop();
        }
        PolicyRule {
            ptype: r.ptype,
            values,
        }
    }
}

/// The account columns, for `select` lists.
macro_rules! account_columns {
    () => {
        "id, tenant_id, username, display_name, real_name, phone, email, role, password_hash, \
         must_change_password, is_owner, disabled, created_at, updated_at"
    };
}
pub(crate) use account_columns;

macro_rules! tenant_columns {
    () => {
        "id, code, name, max_accounts, max_online, disabled, created_at, updated_at"
    };
}
pub(crate) use tenant_columns;

macro_rules! session_columns {
    () => {
        "id, tenant_id, account_id, ip, user_agent, created_at, last_seen_at"
    };
}
pub(crate) use session_columns;

/// Also read from a JSON array of the same values in the same order (a history page comes
/// back from the database as one JSON array of these).
#[derive(sqlx::FromRow, serde::Deserialize)]
pub(crate) struct MessageRow {
    pub id: i64,
    pub chat_id: i64,
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
    pub created_at: i64,
    pub sender_role: String,
    pub agent_id: Option<i64>,
}

impl From<MessageRow> for StoredMessage {
    fn from(r: MessageRow) -> Self {
        StoredMessage {
            id: r.id,
            chat_id: r.chat_id,
            seq: r.seq,
            from_account: r.from_account,
            to_account: r.to_account,
            msg_seq: r.msg_seq,
            msg_random: r.msg_random,
            msg_time: r.msg_time,
            msg_key: r.msg_key,
            body: r.body,
            cloud_custom_data: r.cloud_custom_data,
            flag_bits: r.flag_bits,
            created_at: r.created_at,
            sender_role: r.sender_role,
            agent_id: r.agent_id.map(AccountId),
        }
    }
}

macro_rules! message_columns {
    () => {
        "id, chat_id, seq, from_account, to_account, msg_seq, msg_random, msg_time, msg_key, body, \
         cloud_custom_data, flag_bits, created_at, sender_role, agent_id"
    };
}
pub(crate) use message_columns;

#[derive(sqlx::FromRow)]
pub(crate) struct OutboxRow {
    pub id: i64,
    pub tenant_id: i64,
    pub command: String,
    pub body: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: String,
    pub created_at: i64,
}

impl From<OutboxRow> for OutboxEntry {
    fn from(r: OutboxRow) -> Self {
        OutboxEntry {
            id: r.id,
            tenant_id: TenantId(r.tenant_id),
            command: r.command,
            body: r.body,
            status: r.status,
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at,
            last_error: r.last_error,
            created_at: r.created_at,
        }
    }
}

macro_rules! outbox_columns {
    () => {
        "id, tenant_id, command, body, status, attempts, next_attempt_at, last_error, created_at"
    };
}
pub(crate) use outbox_columns;

/// The columns [`ConversationRow`] reads, in its order.
macro_rules! CONVERSATION_COLUMNS {
    () => {
        "id, tenant_id, buyer, service_account, channel, skill_group_id, state, queued_at, agent_id, \
         session_id, recover, end_reason, ended_by, ended_at, created_at, updated_at, reply_deadline, \
         requeue_at, pending_choice, flow_version, flow_node, flow_tries, bot_answer, bot_repeats"
    };
}
pub(crate) use CONVERSATION_COLUMNS;

#[derive(sqlx::FromRow)]
pub(crate) struct ConversationRow {
    pub id: i64,
    pub tenant_id: i64,
    pub buyer: String,
    pub service_account: String,
    pub channel: String,
    pub skill_group_id: Option<i64>,
    pub state: String,
    pub queued_at: Option<i64>,
    pub agent_id: Option<i64>,
    pub session_id: Option<i64>,
    pub recover: bool,
    pub end_reason: Option<String>,
    pub ended_by: Option<String>,
    pub ended_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub reply_deadline: Option<i64>,
    pub requeue_at: Option<i64>,
    pub pending_choice: Option<String>,
    pub flow_version: Option<i64>,
    pub flow_node: Option<String>,
    pub flow_tries: i64,
    pub bot_answer: Option<i64>,
    pub bot_repeats: i64,
}

impl From<ConversationRow> for Conversation {
    fn from(r: ConversationRow) -> Self {
        Conversation {
            id: r.id,
            tenant_id: TenantId(r.tenant_id),
            buyer: r.buyer,
            service_account: r.service_account,
            channel: r.channel,
            skill_group_id: r.skill_group_id.map(SkillGroupId),
            state: ConversationState::parse(&r.state).unwrap_or(ConversationState::Ended),
            queued_at: r.queued_at,
            agent_id: r.agent_id.map(AccountId),
            session_id: r.session_id,
            recover: r.recover,
            end_reason: r.end_reason,
            ended_by: r.ended_by,
            ended_at: r.ended_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
            reply_deadline: r.reply_deadline,
            requeue_at: r.requeue_at,
            pending_choice: r.pending_choice,
            flow: r.flow_version.map(|version| crate::FlowPosition {
                version,
                node: r.flow_node.unwrap_or_default(),
                tries: r.flow_tries,
                bot_answer: r.bot_answer,
                bot_repeats: r.bot_repeats,
            }),
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AgentStateRow {
    pub account_id: i64,
    pub status: String,
    pub status_since: i64,
    pub active: i64,
    pub last_assigned_at: i64,
    pub transfers_within: i64,
    pub transfers_across: i64,
}

/// The columns [`AgentStateRow`] reads.
macro_rules! AGENT_STATE_COLUMNS {
    () => {
        "account_id, status, status_since, active, last_assigned_at, transfers_within, transfers_across"
    };
}
pub(crate) use AGENT_STATE_COLUMNS;

impl From<AgentStateRow> for AgentState {
    fn from(r: AgentStateRow) -> Self {
        AgentState {
            account_id: AccountId(r.account_id),
            status: AgentStatus::parse(&r.status).unwrap_or(AgentStatus::Suspended),
            status_since: r.status_since,
            active: r.active,
            last_assigned_at: r.last_assigned_at,
            transfers_within: r.transfers_within,
            transfers_across: r.transfers_across,
        }
    }
}

/// The columns [`ServiceSessionRow`] reads.
macro_rules! SERVICE_SESSION_COLUMNS {
    () => {
        "id, conversation_id, agent_id, skill_group_id, started_at, first_reply_at, ended_at, end_reason, \
         categories, note, rating, rating_label, rated_at, rating_expires_at"
    };
}
pub(crate) use SERVICE_SESSION_COLUMNS;

#[derive(sqlx::FromRow)]
pub(crate) struct ServiceSessionRow {
    pub id: i64,
    pub conversation_id: i64,
    pub agent_id: Option<i64>,
    pub skill_group_id: Option<i64>,
    pub started_at: i64,
    pub first_reply_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub end_reason: Option<String>,
    pub categories: String,
    pub note: String,
    pub rating: Option<i64>,
    pub rating_label: String,
    pub rated_at: Option<i64>,
    pub rating_expires_at: Option<i64>,
}

impl From<ServiceSessionRow> for crate::ServiceSession {
    fn from(r: ServiceSessionRow) -> Self {
        crate::ServiceSession {
            id: r.id,
            conversation_id: r.conversation_id,
            agent_id: r.agent_id.map(AccountId),
            skill_group_id: r.skill_group_id.map(SkillGroupId),
            started_at: r.started_at,
            first_reply_at: r.first_reply_at,
            ended_at: r.ended_at,
            end_reason: r.end_reason,
            categories: r
                .categories
                .split(',')
                .filter_map(|c| c.trim().parse().ok())
                .collect(),
            note: r.note,
            rating: r.rating,
            rating_label: r.rating_label,
            rated_at: r.rated_at,
            rating_expires_at: r.rating_expires_at,
        }
    }
}

/// The select that [`MessageTagRow`] reads: the tag, its name and the message's text.
macro_rules! MESSAGE_TAG_SELECT {
    () => {
        "select mt.id, mt.tag_id, t.name as tag_name, mt.conversation_id, mt.chat_id, mt.seq, mt.buyer, \
         mt.agent_id, mt.note, mt.created_at, coalesce(m.text, '') as text \
         from message_tags mt join tags t on t.id = mt.tag_id \
         left join messages m on m.chat_id = mt.chat_id and m.seq = mt.seq"
    };
}
pub(crate) use MESSAGE_TAG_SELECT;

#[derive(sqlx::FromRow)]
pub(crate) struct MessageTagRow {
    pub id: i64,
    pub tag_id: i64,
    pub tag_name: String,
    pub conversation_id: i64,
    pub chat_id: i64,
    pub seq: i64,
    pub buyer: String,
    pub agent_id: Option<i64>,
    pub note: String,
    pub created_at: i64,
    pub text: String,
}

impl From<MessageTagRow> for crate::MessageTag {
    fn from(r: MessageTagRow) -> Self {
        crate::MessageTag {
            id: r.id,
            tag_id: r.tag_id,
            tag_name: r.tag_name,
            conversation_id: r.conversation_id,
            chat_id: r.chat_id,
            seq: r.seq,
            buyer: r.buyer,
            agent_id: r.agent_id.map(AccountId),
            note: r.note,
            created_at: r.created_at,
            text: r.text,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct KnowledgeRow {
    pub id: i64,
    pub kind: String,
    pub parent_id: Option<i64>,
    pub title: String,
    pub answer_kind: String,
    pub answer: String,
    pub keywords: String,
    pub enabled: bool,
    pub is_new: bool,
    pub valid_from: Option<i64>,
    pub valid_to: Option<i64>,
    pub uses: i64,
    pub position: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<KnowledgeRow> for crate::KnowledgeEntry {
    fn from(r: KnowledgeRow) -> Self {
        crate::KnowledgeEntry {
            id: r.id,
            kind: if r.kind == "kb" {
                crate::KnowledgeKind::Kb
            } else {
                crate::KnowledgeKind::Faq
            },
            parent_id: r.parent_id,
            title: r.title,
            answer_kind: r.answer_kind,
            answer: r.answer,
            keywords: r
                .keywords
                .split('\n')
                .filter(|k| !k.is_empty())
                .map(str::to_string)
                .collect(),
            enabled: r.enabled,
            is_new: r.is_new,
            valid_from: r.valid_from,
            valid_to: r.valid_to,
            uses: r.uses,
            position: r.position,
            skill_group_ids: Vec::new(),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A flow with its published version's number.
macro_rules! FLOW_SELECT {
    () => {
        "select f.id, f.name, f.service_account, f.draft, f.published_version, v.version as published_number, \
         f.created_at, f.updated_at from flows f left join flow_versions v on v.id = f.published_version"
    };
}
pub(crate) use FLOW_SELECT;

#[derive(sqlx::FromRow)]
pub(crate) struct FlowRow {
    pub id: i64,
    pub name: String,
    pub service_account: Option<String>,
    pub draft: String,
    pub published_version: Option<i64>,
    pub published_number: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<FlowRow> for crate::FlowRecord {
    fn from(r: FlowRow) -> Self {
        crate::FlowRecord {
            id: r.id,
            name: r.name,
            service_account: r.service_account,
            draft: r.draft,
            published_version: r.published_version,
            published_number: r.published_number,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

impl From<(i64, i64, i64, String, i64, String)> for crate::FlowVersion {
    fn from(r: (i64, i64, i64, String, i64, String)) -> Self {
        crate::FlowVersion {
            id: r.0,
            flow_id: r.1,
            version: r.2,
            doc: r.3,
            published_at: r.4,
            published_by: r.5,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SessionReportRowSql {
    pub session_id: i64,
    pub conversation_id: i64,
    pub buyer: String,
    pub agent_id: Option<i64>,
    pub skill_group_id: Option<i64>,
    pub entered_at: i64,
    pub queued_at: Option<i64>,
    pub previous_at: Option<i64>,
    pub started_at: i64,
    pub first_reply_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub end_reason: Option<String>,
    pub categories: String,
    pub rating: Option<i64>,
    pub agent_messages: i64,
    pub buyer_messages: i64,
}

impl From<SessionReportRowSql> for crate::SessionReportRow {
    fn from(r: SessionReportRowSql) -> Self {
        crate::SessionReportRow {
            session_id: r.session_id,
            conversation_id: r.conversation_id,
            buyer: r.buyer,
            agent_id: r.agent_id.map(AccountId),
            skill_group_id: r.skill_group_id.map(SkillGroupId),
            entered_at: r.entered_at,
            queued_at: r.queued_at,
            previous_session_at: r.previous_at,
            started_at: r.started_at,
            first_reply_at: r.first_reply_at,
            ended_at: r.ended_at,
            end_reason: r.end_reason,
            categories: r
                .categories
                .split(',')
                .filter_map(|c| c.trim().parse().ok())
                .collect(),
            rating: r.rating,
            agent_messages: r.agent_messages,
            buyer_messages: r.buyer_messages,
        }
    }
}
