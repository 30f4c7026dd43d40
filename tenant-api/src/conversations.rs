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

pub struct ConversationsApi;

impl ConversationsApi {
    async fn is_admin(state: &State, auth: &Auth) -> bool {
        state
            .authz
            .allows(&auth.0.account, object::ALL_CONVERSATIONS, action::READ)
            .await
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
            },
            None => AgentStatusDto {
                status: StatusDto::Suspended,
                since: 0,
                active: 0,
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
                Ok(Json(list.into_iter().map(|c| dto(c, None)).collect()))
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
        let tenant = state
            .require_tenant(&auth.0, object::CONVERSATIONS, action::WRITE)
            .await?;
        let c = state
            .store
            .get_conversation(tenant, id.0)
            .await?
            .ok_or_else(|| ApiError::not_found("conversation"))?;
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
        let tenant = state
            .require_tenant(&auth.0, object::CONVERSATIONS, action::WRITE)
            .await?;
        let c = state
            .store
            .get_conversation(tenant, id.0)
            .await?
            .ok_or_else(|| ApiError::not_found("conversation"))?;
        let me: AccountId = auth.0.account.id;
        let admin = Self::is_admin(&state, &auth).await;
        if c.agent_id != Some(me) && !admin {
            return Err(ApiError::forbidden(
                "this conversation is another agent's; ask them or an administrator",
            ));
        }
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
        };
        let ended = state.engine().end(tenant, c.id, end).await?;
        Ok(Json(dto(ended, None)))
    }
}
