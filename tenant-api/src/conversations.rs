//! Agent status and conversations: going online, the incoming list, the queue, taking and
//! ending. Each change is made by the conversation engine and pushed to consoles on the bus.

use crate::State;
use crate::error::{ApiError, ErrorCode};
use crate::security::Auth;
use kefu_auth::authz::{action, object};
use kefu_domain::{AccountId, SkillGroupId};
use kefu_store::{AgentStatus, Conversation, ConversationFilter, ConversationState, EndRequest};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi, Tags};

#[derive(Tags)]
enum Tag {
    /// Agent status and conversations (会话).
    Conversations,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum StatusDto {
    /// Takes new conversations.
    Online,
    /// Keeps current conversations, takes no new ones. Every login starts here.
    Suspended,
}

#[derive(Debug, Object)]
pub struct SetStatusRequest {
    pub status: StatusDto,
}

#[derive(Debug, Object)]
pub struct AgentStatusDto {
    pub status: StatusDto,
    /// Since when (ms).
    pub since: i64,
    /// Conversations assigned now.
    pub active: i64,
    /// Conversations transferred inside the agent's group, and to another group.
    pub transfers_within: i64,
    pub transfers_across: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum StateDto {
    Flow,
    Queued,
    Assigned,
    Ended,
}

impl From<ConversationState> for StateDto {
    fn from(s: ConversationState) -> Self {
        match s {
            ConversationState::Flow => StateDto::Flow,
            ConversationState::Queued => StateDto::Queued,
            ConversationState::Assigned => StateDto::Assigned,
            ConversationState::Ended => StateDto::Ended,
        }
    }
}

#[derive(Debug, Object)]
pub struct ConversationDto {
    pub id: i64,
    pub state: StateDto,
    /// The buyer's IM identifier.
    pub buyer: String,
    /// The customer-service account the buyer wrote to.
    pub service_account: String,
    /// `im`, `web`, `wechat` or `app`.
    pub channel: String,
    pub skill_group_id: Option<i64>,
    pub agent_id: Option<i64>,
    /// Restored to its agent after an abnormal exit; cleared when it ends.
    pub recover: bool,
    /// Place in the queue (1 is next), while queued.
    #[oai(skip_serializing_if_is_none)]
    pub queue_position: Option<i64>,
    /// When the conversation ends unless the buyer answers (reception timeout), in ms.
    pub reply_deadline: Option<i64>,
    /// When it goes back to the queue because its agent's consoles vanished, in ms.
    pub requeue_at: Option<i64>,
    /// The buyer is choosing a skill group from a menu.
    pub choosing_group: bool,
    /// The buyer's messages not yet read on the service side (`scope=mine`, open
    /// conversations; mark them read with `POST /api/v1/conversations/{id}/read`).
    pub unread: i64,
    /// The newest message between the buyer and the service account (`scope=mine`), for
    /// the incoming list's preview.
    #[oai(skip_serializing_if_is_none)]
    pub last_message: Option<MessageDto>,
    pub end_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

fn dto(c: Conversation, queue_position: Option<i64>) -> ConversationDto {
    ConversationDto {
        id: c.id,
        state: c.state.into(),
        buyer: c.buyer,
        service_account: c.service_account,
        channel: c.channel,
        skill_group_id: c.skill_group_id.map(|g| g.0),
        agent_id: c.agent_id.map(|a| a.0),
        recover: c.recover,
        queue_position,
        reply_deadline: c.reply_deadline,
        requeue_at: c.requeue_at,
        choosing_group: c.pending_choice.is_some(),
        unread: 0,
        last_message: None,
        end_reason: c.end_reason,
        created_at: c.created_at,
        updated_at: c.updated_at,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum Scope {
    /// The caller's conversations, open and recently ended.
    Mine,
    /// Buyers waiting in the caller's groups (admins: every group).
    Queue,
    /// Every conversation of the tenant (admins only).
    All,
}

#[derive(Debug, Object)]
pub struct QueueCountDto {
    pub skill_group_id: i64,
    pub waiting: i64,
}

#[derive(Debug, Object)]
pub struct EndConversationRequest {
    /// Consultation category ids (multi-select).
    #[oai(default)]
    pub categories: Vec<i64>,
    /// Up to 500 characters.
    #[oai(default)]
    pub note: String,
}

#[derive(Debug, Object)]
pub struct SendMessageRequest {
    /// Message elements as in the IM protocol (`TIMTextElem`, `TIMImageElem` from
    /// `POST /im/media`, `TIMCustomElem` for order cards…).
    pub msg_body: Vec<serde_json::Value>,
}

#[derive(Debug, Object)]
pub struct MessageDto {
    pub seq: i64,
    /// Who wrote it, seen by the caller: `Y` the buyer, `M` the caller, `O` another agent,
    /// `R` the robot (bot, flow, system notices).
    pub role: String,
    pub from_account: String,
    pub to_account: String,
    /// The agent who wrote it, for `M` and `O`.
    pub agent_id: Option<i64>,
    /// Unix seconds.
    pub msg_time: i64,
    pub msg_key: String,
    /// The elements, with media links signed for this reader.
    pub msg_body: serde_json::Value,
    pub recalled: bool,
    pub created_at: i64,
}

#[derive(Debug, Object)]
pub struct ReadRequest {
    /// The last message read (its `seq`).
    pub seq: i64,
}

#[derive(Debug, Object)]
pub struct TypingDto {
    /// Whether the signal went out (it is dropped, never queued, when the bus is down).
    pub delivered: bool,
}

/// A message found by the message search, with the conversation it belongs to.
#[derive(Debug, Object)]
pub struct MessageHitDto {
    /// The message's id: pass it as `before` for the next page.
    pub id: i64,
    /// The buyer of the chat.
    pub buyer: String,
    /// The buyer's conversation that was open when the message was stored, if any; open
    /// its transcript with `GET /conversations/{id}/transcript`.
    pub conversation_id: Option<i64>,
    pub message: MessageDto,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum SenderRole {
    Buyer,
    Agent,
    Robot,
}

/// Who the buyer is, for the console's right pane.
#[derive(Debug, Object)]
pub struct BuyerDto {
    /// The buyer's IM identifier.
    pub identifier: String,
    /// The nickname the tenant imported (empty when none).
    pub nick: String,
    pub face_url: String,
    /// `im`, `web`, `wechat` or `app`, of this conversation.
    pub channel: String,
    /// What the buyer's last socket login ran on (its User-Agent); empty for REST-only
    /// buyers.
    pub device: String,
    /// When the buyer last logged in over the socket, in ms.
    pub last_login_at: Option<i64>,
    /// When the IM account was created, in ms.
    pub first_seen_at: Option<i64>,
}

#[derive(Debug, Object)]
pub struct ReadDto {
    /// How far the service side has read now (never moves back).
    pub read_seq: i64,
}

#[derive(Debug, Object)]
pub struct TransferRequest {
    /// Another online agent, who gets the conversation at once.
    pub to_agent_id: Option<i64>,
    /// Or another skill group, whose queue the buyer joins.
    pub to_skill_group_id: Option<i64>,
    /// Or let the buyer choose: they get a menu of the groups visible to buyers (when the
    /// tenant allows it).
    #[oai(default)]
    pub to_buyer_choice: bool,
    /// Shown to the receiving agent; up to 500 characters.
    #[oai(default)]
    pub note: String,
}

#[derive(Debug, Object)]
pub struct OnlineAgentDto {
    pub id: i64,
    pub display_name: String,
    pub username: String,
    pub skill_group_ids: Vec<i64>,
    /// Conversations assigned now.
    pub active: i64,
}

pub struct ConversationsApi;

impl ConversationsApi {
    async fn is_admin(state: &State, auth: &Auth) -> bool {
        state
            .authz
            .allows(&auth.0.account, object::ALL_CONVERSATIONS, action::READ)
            .await
    }

    /// The caller's tenant and conversation `id` of it, after the permission check.
    /// Sends `elements` from the caller, the conversation's serving agent, to its buyer.
    pub(crate) async fn send_as_agent(
        state: &State,
        auth: &Auth,
        tenant: kefu_domain::TenantId,
        conversation: i64,
        mut elements: serde_json::Value,
    ) -> Result<Json<MessageDto>, ApiError> {
        state.media_links.canonicalize(Some(&mut elements));
        let me = auth.0.account.id;
        let m = state
            .engine()
            .agent_message(tenant, conversation, me, &elements)
            .await
            .map_err(|e| match e {
                kefu_engine::SendError::Invalid(e) => {
                    ApiError::new(ErrorCode::ValidationFailed, format!("msg_body: {e}"))
                }
                kefu_engine::SendError::Blocked(word) => ApiError::new(
                    ErrorCode::BlockedWord,
                    format!(
                        "the message was not sent: it contains `{word}`, which this service does not allow; \
                         remove it and send again"
                    ),
                ),
                kefu_engine::SendError::Store(e) => e.into(),
            })?;
        let secret = kefu_engine::cache::im_app(&state.store, tenant)
            .await?
            .map(|a| a.secret_key.clone());
        Ok(Json(message_dto(
            state,
            tenant,
            secret.as_deref(),
            None,
            me,
            m,
        )))
    }

    pub(crate) async fn load(
        state: &State,
        auth: &Auth,
        id: i64,
        act: &str,
    ) -> Result<(kefu_domain::TenantId, Conversation), ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::CONVERSATIONS, act)
            .await?;
        let c = state
            .store
            .get_conversation(tenant, id)
            .await?
            .ok_or_else(|| ApiError::not_found("conversation"))?;
        Ok((tenant, c))
    }

    /// Refuses unless the caller is an administrator, serves or served the conversation, or
    /// serves the same buyer now (their past contacts are the buyer's history).
    async fn may_look_back(state: &State, auth: &Auth, c: &Conversation) -> Result<(), ApiError> {
        if Self::own_or_admin(state, auth, c).await.is_ok() {
            return Ok(());
        }
        let me = auth.0.account.id;
        let served = state
            .store
            .sessions_of(c.tenant_id, c.id)
            .await?
            .iter()
            .any(|s| s.agent_id == Some(me));
        if served {
            return Ok(());
        }
        let filter = ConversationFilter {
            buyer: Some(c.buyer.clone()),
            agent: Some(me),
            open_only: true,
            limit: 1,
            ..Default::default()
        };
        if state
            .store
            .list_conversations(c.tenant_id, &filter)
            .await?
            .is_empty()
        {
            return Err(ApiError::forbidden(
                "you may read the conversations of buyers you serve now or served before",
            ));
        }
        Ok(())
    }

    /// Refuses unless the caller serves the conversation or is an administrator.
    async fn own_or_admin(state: &State, auth: &Auth, c: &Conversation) -> Result<(), ApiError> {
        if c.agent_id == Some(auth.0.account.id) || Self::is_admin(state, auth).await {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "this conversation is another agent's; ask them or an administrator",
            ))
        }
    }
}

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Conversations")]
impl ConversationsApi {
    /// Get my status
    ///
    /// Errors: 403 `forbidden`.
    #[oai(path = "/me/status", method = "get", operation_id = "getMyStatus")]
    async fn get_status(
        &self,
        state: Data<&State>,
        auth: Auth,
    ) -> Result<Json<AgentStatusDto>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::AGENT_STATUS, action::READ)
            .await?;
        let mine = state
            .store
            .agent_states(tenant)
            .await?
            .into_iter()
            .find(|s| s.account_id == auth.0.account.id);
        Ok(Json(match mine {
            Some(s) => AgentStatusDto {
                status: match s.status {
                    AgentStatus::Online => StatusDto::Online,
                    AgentStatus::Suspended => StatusDto::Suspended,
                },
                since: s.status_since,
                active: s.active,
                transfers_within: s.transfers_within,
                transfers_across: s.transfers_across,
            },
            None => AgentStatusDto {
                status: StatusDto::Suspended,
                since: 0,
                active: 0,
                transfers_within: 0,
                transfers_across: 0,
            },
        }))
    }

    /// Go online or suspend
    ///
    /// Online agents are given buyers from their groups' queues at once. Going online past
    /// the plan's online limit is refused.
    ///
    /// Errors: 409 `online_limit_reached`; 403 `forbidden`.
    #[oai(path = "/me/status", method = "put", operation_id = "setMyStatus")]
    async fn set_status(
        &self,
        state: Data<&State>,
        auth: Auth,
        body: Json<SetStatusRequest>,
    ) -> Result<Json<AgentStatusDto>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::AGENT_STATUS, action::WRITE)
            .await?;
        let status = match body.0.status {
            StatusDto::Online => AgentStatus::Online,
            StatusDto::Suspended => AgentStatus::Suspended,
        };
        let engine = state.engine();
        engine.set_status(tenant, auth.0.account.id, status).await?;
        // The answer shows the load after any buyers were handed over.
        self.get_status(state, auth).await
    }

    /// List conversations
    ///
    /// `mine`: the caller's; `queue`: buyers waiting in the caller's skill groups, in queue
    /// order (agents see them only in manual-pick groups, counts otherwise: see
    /// `GET /api/v1/queue`); `all`: every conversation (admins).
    ///
    /// Errors: 403 `forbidden`.
    #[oai(
        path = "/conversations",
        method = "get",
        operation_id = "listConversations"
    )]
    async fn list(
        &self,
        state: Data<&State>,
        auth: Auth,
        /// `mine` (default), `queue` or `all`.
        scope: Query<Option<Scope>>,
        /// At most this many (default 100, at most 500).
        limit: Query<Option<i64>>,
    ) -> Result<Json<Vec<ConversationDto>>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::CONVERSATIONS, action::READ)
            .await?;
        let admin = Self::is_admin(&state, &auth).await;
        let limit = limit.0.unwrap_or(100).clamp(1, 500);
        let me = auth.0.account.id;
        match scope.0.unwrap_or(Scope::Mine) {
            Scope::Mine => {
                let filter = ConversationFilter {
                    agent: Some(me),
                    limit,
                    ..Default::default()
                };
                let list = state.store.list_conversations(tenant, &filter).await?;
                let secret = kefu_engine::cache::im_app(&state.store, tenant)
                    .await?
                    .map(|a| a.secret_key.clone());
                let mut out = Vec::with_capacity(list.len());
                for c in list {
                    out.push(with_preview(&state, tenant, secret.as_deref(), me, c).await?);
                }
                Ok(Json(out))
            }
            Scope::All => {
                if !admin {
                    return Err(ApiError::forbidden(
                        "only administrators list every conversation; use scope=mine",
                    ));
                }
                let filter = ConversationFilter {
                    limit,
                    ..Default::default()
                };
                let list = state.store.list_conversations(tenant, &filter).await?;
                Ok(Json(list.into_iter().map(|c| dto(c, None)).collect()))
            }
            Scope::Queue => {
                let groups: Vec<SkillGroupId> = if admin {
                    state
                        .store
                        .list_skill_groups(tenant)
                        .await?
                        .into_iter()
                        .map(|g| g.id)
                        .collect()
                } else {
                    let mut mine = Vec::new();
                    for g in auth.0.account.skill_group_ids.iter() {
                        let manual = state
                            .store
                            .group_routing(tenant, *g)
                            .await?
                            .is_some_and(|r| r.strategy == kefu_store::Strategy::Manual);
                        if manual {
                            mine.push(*g);
                        }
                    }
                    mine
                };
                let mut out = Vec::new();
                for g in groups {
                    for (i, c) in state
                        .store
                        .queue_of(tenant, g)
                        .await?
                        .into_iter()
                        .enumerate()
                    {
                        out.push(dto(c, Some(i as i64 + 1)));
                    }
                }
                out.truncate(limit as usize);
                Ok(Json(out))
            }
        }
    }

    /// Queue counts
    ///
    /// How many buyers wait in each of the caller's skill groups (admins: every group).
    ///
    /// Errors: 403 `forbidden`.
    #[oai(path = "/queue", method = "get", operation_id = "queueCounts")]
    async fn queue(
        &self,
        state: Data<&State>,
        auth: Auth,
    ) -> Result<Json<Vec<QueueCountDto>>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::CONVERSATIONS, action::READ)
            .await?;
        let groups: Vec<SkillGroupId> = if Self::is_admin(&state, &auth).await {
            state
                .store
                .list_skill_groups(tenant)
                .await?
                .into_iter()
                .map(|g| g.id)
                .collect()
        } else {
            auth.0.account.skill_group_ids.clone()
        };
        let mut out = Vec::new();
        for g in groups {
            let waiting = state.store.queue_of(tenant, g).await?.len() as i64;
            out.push(QueueCountDto {
                skill_group_id: g.0,
                waiting,
            });
        }
        Ok(Json(out))
    }

    /// Take a queued buyer
    ///
    /// Admins take any queued buyer; agents take buyers of their manual-pick groups. The
    /// caller must be online.
    ///
    /// Errors: 404 `not_found`; 409 `state_conflict` (no longer queued, or caller offline);
    /// 403 `forbidden`.
    #[oai(
        path = "/conversations/:id/accept",
        method = "post",
        operation_id = "acceptConversation"
    )]
    async fn accept(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
    ) -> Result<Json<ConversationDto>, ApiError> {
        let (tenant, c) = Self::load(&state, &auth, id.0, action::WRITE).await?;
        if !Self::is_admin(&state, &auth).await {
            let group = c.skill_group_id;
            let allowed = match group {
                Some(g) if auth.0.account.skill_group_ids.contains(&g) => state
                    .store
                    .group_routing(tenant, g)
                    .await?
                    .is_some_and(|r| r.strategy == kefu_store::Strategy::Manual),
                _ => false,
            };
            if !allowed {
                return Err(ApiError::forbidden(
                    "agents take buyers only from their own manual-pick skill groups",
                ));
            }
        }
        let me = auth.0.account.id;
        let actor = kefu_domain::authz::subject(me);
        let a = state.engine().take(tenant, c.id, me, &actor).await?;
        Ok(Json(dto(a.conversation, None)))
    }

    /// Send a message
    ///
    /// The serving agent replies to the buyer. The message goes from the customer-service
    /// account, marked as the caller's (role `M` for them, `O` for other agents).
    ///
    /// Errors: 400 `validation_failed` (the elements); 404 `not_found`; 409 `state_conflict`
    /// (not assigned to the caller).
    #[oai(
        path = "/conversations/:id/messages",
        method = "post",
        operation_id = "sendConversationMessage"
    )]
    async fn send(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
        body: Json<SendMessageRequest>,
    ) -> Result<Json<MessageDto>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::CONVERSATIONS, action::WRITE)
            .await?;
        let elements = serde_json::Value::Array(body.0.msg_body);
        Self::send_as_agent(&state, &auth, tenant, id.0, elements).await
    }

    /// Load history
    ///
    /// The buyer's messages with the customer-service account, newest first, including the
    /// part handled by the bot: `before` is the `seq` of the oldest message already shown
    /// (omit it for the newest), `limit` 1 to 50 (default 10).
    ///
    /// Errors: 404 `not_found`; 403 `forbidden` (another agent's conversation).
    #[oai(
        path = "/conversations/:id/messages",
        method = "get",
        operation_id = "conversationMessages"
    )]
    async fn history(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
        before: Query<Option<i64>>,
        limit: Query<Option<i64>>,
    ) -> Result<Json<Vec<MessageDto>>, ApiError> {
        let (tenant, c) = Self::load(&state, &auth, id.0, action::READ).await?;
        let me = auth.0.account.id;
        Self::own_or_admin(&state, &auth, &c).await?;
        let page = state
            .store
            .messages_before(
                tenant,
                &c.buyer,
                &c.service_account,
                before.0.unwrap_or(i64::MAX),
                limit.0.unwrap_or(10).clamp(1, 50),
            )
            .await?;
        let secret = kefu_engine::cache::im_app(&state.store, tenant)
            .await?
            .map(|a| a.secret_key.clone());
        Ok(Json(
            page.into_iter()
                .map(|m| message_dto(&state, tenant, secret.as_deref(), Some(&c.buyer), me, m))
                .collect(),
        ))
    }

    /// Online agents
    ///
    /// For the transfer dialog: online agents of the tenant, the caller excepted, whose
    /// username, display name, real name or phone contains `q` (any case).
    ///
    /// Errors: 403 `forbidden`.
    #[oai(path = "/agents/online", method = "get", operation_id = "onlineAgents")]
    async fn online_agents(
        &self,
        state: Data<&State>,
        auth: Auth,
        q: Query<Option<String>>,
    ) -> Result<Json<Vec<OnlineAgentDto>>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::CONVERSATIONS, action::READ)
            .await?;
        let online: std::collections::HashMap<i64, i64> = state
            .store
            .agent_states(tenant)
            .await?
            .into_iter()
            .filter(|s| s.status == AgentStatus::Online)
            .map(|s| (s.account_id.0, s.active))
            .collect();
        let filter = kefu_store::AccountFilter {
            text: q.0.filter(|t| !t.trim().is_empty()),
            disabled: Some(false),
            ..Default::default()
        };
        let accounts = state.store.list_accounts(tenant, &filter).await?;
        Ok(Json(
            accounts
                .into_iter()
                .filter(|a| a.id != auth.0.account.id)
                .filter_map(|a| {
                    online.get(&a.id.0).map(|active| OnlineAgentDto {
                        id: a.id.0,
                        display_name: a.display_name,
                        username: a.username,
                        skill_group_ids: a.skill_group_ids.iter().map(|g| g.0).collect(),
                        active: *active,
                    })
                })
                .collect(),
        ))
    }

    /// Mark the buyer's messages read
    ///
    /// The serving agent (or an admin) has read up to `seq`; the buyer's read receipts and
    /// the conversation's `unread` follow.
    ///
    /// Errors: 403 `forbidden`; 404 `not_found`.
    #[oai(
        path = "/conversations/:id/read",
        method = "post",
        operation_id = "markConversationRead"
    )]
    async fn read(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
        body: Json<ReadRequest>,
    ) -> Result<Json<ReadDto>, ApiError> {
        let (tenant, c) = Self::load(&state, &auth, id.0, action::WRITE).await?;
        Self::own_or_admin(&state, &auth, &c).await?;
        let chat = state
            .store
            .chat_between(tenant, &c.buyer, &c.service_account)
            .await?;
        let Some(chat) = chat else {
            // Nobody has written yet: nothing to read.
            return Ok(Json(ReadDto { read_seq: 0 }));
        };
        let read_seq = state
            .store
            .mark_read(tenant, chat.id, &c.service_account, body.0.seq)
            .await?;
        let event = kefu_domain::event::Event::Read {
            tenant_id: tenant,
            chat_id: chat.id,
            reader: c.service_account.clone(),
            peer: c.buyer.clone(),
            seq: read_seq,
        };
        if let Err(e) = state
            .bus
            .publish(kefu_domain::event::topic::SIGNALS, &event)
            .await
        {
            tracing::debug!(error = %e, "a read receipt was stored but not announced");
        }
        Ok(Json(ReadDto { read_seq }))
    }

    /// Search messages (消息管理)
    ///
    /// Administrators search every message of the tenant: text (`q`, Chinese included),
    /// period (`from`, `to` in ms, `to` exclusive), sender role, the agent who wrote it, an IM
    /// account (a buyer's id), and skill group. Newest first, `limit` 1–200 (default 50);
    /// `before` (a hit's `id`) gives the next page. Each hit names its conversation.
    ///
    /// Errors: 400 `validation_failed`; 403 `forbidden`.
    #[oai(path = "/messages", method = "get", operation_id = "searchMessages")]
    #[allow(clippy::too_many_arguments)]
    async fn search(
        &self,
        state: Data<&State>,
        auth: Auth,
        q: Query<Option<String>>,
        from: Query<Option<i64>>,
        to: Query<Option<i64>>,
        role: Query<Option<SenderRole>>,
        agent_id: Query<Option<i64>>,
        account: Query<Option<String>>,
        skill_group_id: Query<Option<i64>>,
        before: Query<Option<i64>>,
        limit: Query<Option<i64>>,
    ) -> Result<Json<Vec<MessageHitDto>>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::ALL_CONVERSATIONS, action::READ)
            .await?;
        if let (Some(f), Some(t)) = (from.0, to.0)
            && f > t
        {
            return Err(ApiError::new(
                ErrorCode::ValidationFailed,
                "`from` is after `to`; give the earlier time first",
            ));
        }
        let search = kefu_store::MessageSearch {
            text: q.0.unwrap_or_default(),
            from: from.0,
            to: to.0,
            role: role.0.map(|r| {
                match r {
                    SenderRole::Buyer => "buyer",
                    SenderRole::Agent => "agent",
                    SenderRole::Robot => "robot",
                }
                .to_string()
            }),
            agent: agent_id.0.map(AccountId),
            account: account.0.filter(|a| !a.is_empty()),
            skill_group: skill_group_id.0.map(SkillGroupId),
            before_id: before.0,
            limit: limit.0.unwrap_or(50).clamp(1, 200),
        };
        if search.is_empty() {
            return Err(ApiError::new(
                ErrorCode::ValidationFailed,
                "give some text, a period or another filter to search by",
            ));
        }
        let found = state.store.search_messages(tenant, &search).await?;
        let app = kefu_engine::cache::im_app(&state.store, tenant).await?;
        let services: Vec<String> = app
            .as_ref()
            .map(|a| {
                a.service_accounts
                    .iter()
                    .map(|s| s.identifier.clone())
                    .collect()
            })
            .unwrap_or_default();
        let secret = app.map(|a| a.secret_key.clone());
        let me = auth.0.account.id;
        // Each buyer's conversations are read once for all their hits.
        let mut conversations: std::collections::HashMap<String, Vec<Conversation>> =
            std::collections::HashMap::new();
        let mut out = Vec::with_capacity(found.len());
        for m in found {
            let buyer = if services.contains(&m.from_account) {
                m.to_account.clone()
            } else {
                m.from_account.clone()
            };
            if !conversations.contains_key(&buyer) {
                let filter = ConversationFilter {
                    buyer: Some(buyer.clone()),
                    limit: 200,
                    ..Default::default()
                };
                let list = state.store.list_conversations(tenant, &filter).await?;
                conversations.insert(buyer.clone(), list);
            }
            // The first conversation not over when the message was stored: the one it was
            // part of, or the one it opened a moment later.
            let conversation_id = conversations[&buyer]
                .iter()
                .filter(|c| c.state != ConversationState::Ended || c.updated_at >= m.created_at)
                .min_by_key(|c| (c.created_at, c.id))
                .map(|c| c.id);
            out.push(MessageHitDto {
                id: m.id,
                conversation_id,
                message: message_dto(&state, tenant, secret.as_deref(), Some(&buyer), me, m),
                buyer,
            });
        }
        Ok(Json(out))
    }

    /// The buyer of a conversation
    ///
    /// Identifier, nickname, channel and device, for the console's right pane.
    ///
    /// Errors: 403 `forbidden` (another agent's conversation); 404 `not_found`.
    #[oai(
        path = "/conversations/:id/buyer",
        method = "get",
        operation_id = "conversationBuyer"
    )]
    async fn buyer(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
    ) -> Result<Json<BuyerDto>, ApiError> {
        let (tenant, c) = Self::load(&state, &auth, id.0, action::READ).await?;
        Self::own_or_admin(&state, &auth, &c).await?;
        let account = state.store.get_im_account(tenant, &c.buyer).await?;
        let login = state.store.last_im_login(tenant, &c.buyer).await?;
        Ok(Json(BuyerDto {
            nick: account.as_ref().map(|a| a.nick.clone()).unwrap_or_default(),
            face_url: account
                .as_ref()
                .map(|a| a.face_url.clone())
                .unwrap_or_default(),
            first_seen_at: account.map(|a| a.created_at),
            device: login.as_ref().map(|l| l.0.clone()).unwrap_or_default(),
            last_login_at: login.map(|l| l.1),
            identifier: c.buyer,
            channel: c.channel,
        }))
    }

    /// A conversation
    ///
    /// One conversation, for whoever may read its transcript (see
    /// `GET /conversations/{id}/transcript`), with `unread` and `last_message` as in
    /// `scope=mine`: a console told that one conversation changed reads just that one.
    ///
    /// Errors: 403 `forbidden`; 404 `not_found`.
    #[oai(
        path = "/conversations/:id",
        method = "get",
        operation_id = "getConversation"
    )]
    async fn get_one(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
    ) -> Result<Json<ConversationDto>, ApiError> {
        let (tenant, c) = Self::load(&state, &auth, id.0, action::READ).await?;
        Self::may_look_back(&state, &auth, &c).await?;
        let secret = kefu_engine::cache::im_app(&state.store, tenant)
            .await?
            .map(|a| a.secret_key.clone());
        Ok(Json(
            with_preview(&state, tenant, secret.as_deref(), auth.0.account.id, c).await?,
        ))
    }

    /// The buyer's contact history
    ///
    /// Every conversation of this conversation's buyer, newest first (at most 50), for the
    /// console's contact history. Open one with `GET /conversations/{id}/transcript`.
    ///
    /// Errors: 403 `forbidden` (another agent's conversation); 404 `not_found`.
    #[oai(
        path = "/conversations/:id/contacts",
        method = "get",
        operation_id = "buyerContacts"
    )]
    async fn contacts(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
    ) -> Result<Json<Vec<ConversationDto>>, ApiError> {
        let (tenant, c) = Self::load(&state, &auth, id.0, action::READ).await?;
        Self::own_or_admin(&state, &auth, &c).await?;
        let filter = ConversationFilter {
            buyer: Some(c.buyer.clone()),
            limit: 50,
            ..Default::default()
        };
        let list = state.store.list_conversations(tenant, &filter).await?;
        Ok(Json(list.into_iter().map(|c| dto(c, None)).collect()))
    }

    /// A transcript
    ///
    /// The messages between the conversation's buyer and service account stored from
    /// `from` to `to` (ms, `to` exclusive; by default the conversation's own span, from the
    /// end of the buyer's previous conversation, so the message that opened it is in), oldest
    /// first, at most 2,000. Administrators, the agents who served it, and the agent serving
    /// the same buyer now (their past contacts) may read it.
    ///
    /// Errors: 400 `validation_failed` (`from` after `to`); 403 `forbidden`; 404 `not_found`.
    #[oai(
        path = "/conversations/:id/transcript",
        method = "get",
        operation_id = "conversationTranscript"
    )]
    async fn transcript(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
        from: Query<Option<i64>>,
        to: Query<Option<i64>>,
    ) -> Result<Json<Vec<MessageDto>>, ApiError> {
        let (tenant, c) = Self::load(&state, &auth, id.0, action::READ).await?;
        let me = auth.0.account.id;
        Self::may_look_back(&state, &auth, &c).await?;
        // By default from the end of the buyer's previous conversation: the message that
        // opened this one (stored a moment before it) and the bot's part belong to it.
        let from = match from.0 {
            Some(f) => f,
            None => {
                let filter = ConversationFilter {
                    buyer: Some(c.buyer.clone()),
                    limit: 200,
                    ..Default::default()
                };
                state
                    .store
                    .list_conversations(tenant, &filter)
                    .await?
                    .iter()
                    .filter(|p| p.created_at < c.created_at && p.state == ConversationState::Ended)
                    .map(|p| p.updated_at + 1)
                    .max()
                    .unwrap_or(0)
            }
        };
        let to = to.0.unwrap_or(if c.state == ConversationState::Ended {
            c.updated_at + 1
        } else {
            i64::MAX
        });
        if from > to {
            return Err(ApiError::new(
                ErrorCode::ValidationFailed,
                "`from` is after `to`; give the earlier time first",
            ));
        }
        let page = state
            .store
            .messages_in_period(tenant, &c.buyer, &c.service_account, from, to, 2000)
            .await?;
        let secret = kefu_engine::cache::im_app(&state.store, tenant)
            .await?
            .map(|a| a.secret_key.clone());
        Ok(Json(
            page.into_iter()
                .map(|m| message_dto(&state, tenant, secret.as_deref(), Some(&c.buyer), me, m))
                .collect(),
        ))
    }

    /// Tell the buyer the agent is typing
    ///
    /// The serving agent is typing a reply: the buyer's open sockets get `{"type": "typing",
    /// "from": "<service account>"}`. Nothing is stored; consoles send it at most once a
    /// second while the agent types.
    ///
    /// Errors: 403 `forbidden`; 404 `not_found`; 409 `state_conflict` (ended).
    #[oai(
        path = "/conversations/:id/typing",
        method = "post",
        operation_id = "agentTyping"
    )]
    async fn typing(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
    ) -> Result<Json<TypingDto>, ApiError> {
        let (tenant, c) = Self::load(&state, &auth, id.0, action::WRITE).await?;
        if c.agent_id != Some(auth.0.account.id) {
            return Err(ApiError::forbidden(
                "only the agent serving this buyer can show them typing",
            ));
        }
        if c.state == ConversationState::Ended {
            return Err(ApiError::new(
                ErrorCode::StateConflict,
                "this conversation has ended",
            ));
        }
        let event = kefu_domain::event::Event::Typing {
            tenant_id: tenant,
            from: c.service_account.clone(),
            to: c.buyer.clone(),
        };
        let delivered = state
            .bus
            .publish(kefu_domain::event::topic::SIGNALS, &event)
            .await
            .is_ok();
        Ok(Json(TypingDto { delivered }))
    }

    /// Transfer a conversation
    ///
    /// The serving agent hands the buyer to another online agent (who sees the note) or to
    /// another skill group's queue. The current session ends as `transferred`.
    ///
    /// Errors: 400 `validation_failed`, `unknown_skill_group`; 404 `not_found`; 409
    /// `state_conflict` (not yours, or the receiver is not online).
    #[oai(
        path = "/conversations/:id/transfer",
        method = "post",
        operation_id = "transferConversation"
    )]
    async fn transfer(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
        body: Json<TransferRequest>,
    ) -> Result<Json<ConversationDto>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::CONVERSATIONS, action::WRITE)
            .await?;
        let body = body.0;
        let to = match (
            body.to_agent_id,
            body.to_skill_group_id,
            body.to_buyer_choice,
        ) {
            (Some(a), None, false) => {
                // Only agents of this tenant: another tenant's id is simply not found.
                state
                    .store
                    .get_account(tenant, AccountId(a))
                    .await?
                    .ok_or_else(|| ApiError::not_found("agent"))?;
                kefu_store::TransferTarget::Agent(AccountId(a))
            }
            (None, Some(g), false) => kefu_store::TransferTarget::Group(SkillGroupId(g)),
            (None, None, true) => {
                if !state
                    .store
                    .service_settings(tenant)
                    .await?
                    .buyer_group_choice
                {
                    return Err(ApiError::new(
                        ErrorCode::ValidationFailed,
                        "to_buyer_choice: this tenant does not let buyers choose a group; pick a group \
                         (an administrator can turn buyer_group_choice on)",
                    ));
                }
                kefu_store::TransferTarget::BuyerChoice
            }
            _ => {
                return Err(ApiError::new(
                    ErrorCode::ValidationFailed,
                    "give exactly one of to_agent_id, to_skill_group_id and to_buyer_choice",
                ));
            }
        };
        if body.note.chars().count() > 500 {
            return Err(ApiError::new(
                ErrorCode::ValidationFailed,
                "note: at most 500 characters",
            ));
        }
        let moved = state
            .engine()
            .transfer(tenant, id.0, auth.0.account.id, to, &body.note)
            .await?;
        Ok(Json(dto(moved, None)))
    }

    /// End a conversation
    ///
    /// The serving agent (or an admin) ends it with consultation categories and a note.
    ///
    /// Errors: 400 `validation_failed`; 404 `not_found`; 409 `state_conflict` (already
    /// ended); 403 `forbidden` (another agent's conversation).
    #[oai(
        path = "/conversations/:id/end",
        method = "post",
        operation_id = "endConversation"
    )]
    async fn end(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
        body: Json<EndConversationRequest>,
    ) -> Result<Json<ConversationDto>, ApiError> {
        let (tenant, c) = Self::load(&state, &auth, id.0, action::WRITE).await?;
        let me: AccountId = auth.0.account.id;
        Self::own_or_admin(&state, &auth, &c).await?;
        if body.0.note.chars().count() > 500 {
            return Err(ApiError::new(
                ErrorCode::ValidationFailed,
                "note: at most 500 characters",
            ));
        }
        let end = EndRequest {
            reason: if c.agent_id == Some(me) {
                "agent"
            } else {
                "admin"
            }
            .into(),
            actor: kefu_domain::authz::subject(me),
            categories: body.0.categories,
            note: body.0.note,
            due_by: None,
        };
        let ended = state.engine().end(tenant, c.id, end).await?;
        Ok(Json(dto(ended, None)))
    }
}

/// A message as a console shows it: role relative to the reader, media links signed.
/// A conversation with what the incoming list shows: its unread count (open ones) and the
/// newest message of the buyer's chat.
async fn with_preview(
    state: &State,
    tenant: kefu_domain::TenantId,
    secret: Option<&str>,
    reader: AccountId,
    c: Conversation,
) -> Result<ConversationDto, ApiError> {
    let unread = if c.state == ConversationState::Ended {
        0
    } else {
        state.store.unread_count(tenant, &c).await?
    };
    let last = state
        .store
        .messages_before(tenant, &c.buyer, &c.service_account, i64::MAX, 1)
        .await?
        .into_iter()
        .next()
        .map(|m| message_dto(state, tenant, secret, Some(&c.buyer), reader, m));
    let mut d = dto(c, None);
    d.unread = unread;
    d.last_message = last;
    Ok(d)
}

fn message_dto(
    state: &State,
    tenant: kefu_domain::TenantId,
    secret: Option<&str>,
    buyer: Option<&str>,
    reader: AccountId,
    m: kefu_store::StoredMessage,
) -> MessageDto {
    let role = match (m.sender_role.as_str(), m.agent_id) {
        ("agent", Some(a)) if a == reader => "M",
        ("agent", _) => "O",
        ("robot" | "system", _) => "R",
        _ if buyer.is_none_or(|b| b == m.from_account) => "Y",
        _ => "O",
    };
    let mut body: serde_json::Value =
        serde_json::from_str(&m.body).unwrap_or(serde_json::Value::Array(vec![]));
    if let Some(secret) = secret {
        state
            .media_links
            .sign(tenant.0, secret, &mut body, state.clock.now());
    }
    MessageDto {
        seq: m.seq,
        role: role.into(),
        from_account: m.from_account,
        to_account: m.to_account,
        agent_id: m.agent_id.map(|a| a.0),
        msg_time: m.msg_time,
        msg_key: m.msg_key,
        msg_body: body,
        recalled: m.flag_bits & kefu_store::FLAG_RECALLED != 0,
        created_at: m.created_at,
    }
}
