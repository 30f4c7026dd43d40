//! Service settings (timeouts, ratings, categories required, recovery), the consultation
//! category and message tag trees, tags on messages, and a conversation's sessions with
//! their ratings.

use crate::State;
use crate::error::{ApiError, ErrorCode};
use crate::security::Auth;
use kefu_auth::authz::{action, object};
use kefu_domain::settings::ServiceSettings;
use kefu_domain::{AccountId, SkillGroupId, TenantId, validate};
use kefu_store::{MessageTagFilter, NewMessageTag, NewTreeNode, Tree, TreeNode};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

#[derive(Tags)]
enum Tag {
    /// Service settings, consultation categories (咨询分类) and message tags (会话标签).
    Service,
}

/// The tenant's service settings. Every field is optional on write: absent fields keep
/// their current value.
#[derive(Debug, Clone, Object)]
pub struct ServiceSettingsDto {
    /// Agents must choose a consultation category to end a conversation.
    pub categories_required: bool,
    /// Minutes the buyer has to answer an agent before the conversation ends (0: never).
    pub reception_timeout_minutes: i64,
    /// Sent before the timeout notice (`src` 20).
    pub timeout_message: String,
    /// Send the rating card (`src` 9) when an agent's conversation ends.
    pub ratings_enabled: bool,
    /// 1: stars, 2: numbers.
    pub rating_kind: u8,
    /// How long a rating card can be answered, in hours.
    pub rating_expiry_hours: i64,
    /// Buyers may ask to rate before the end (`src` 24).
    pub rating_by_buyer: bool,
    /// When an agent's consoles are gone past the grace period, their conversations go back
    /// to the queue after this many minutes; absent: they wait for the agent, marked RECOVER.
    pub requeue_after_minutes: Option<i64>,
    /// Agents may transfer a buyer to a menu of the groups visible to buyers.
    pub buyer_group_choice: bool,
    /// Within working hours, greet a new conversation that runs no service flow.
    pub welcome_enabled: bool,
    pub welcome_message: String,
    /// Send the FAQ list as a menu after the welcome.
    pub faq_after_welcome: bool,
    /// Outside working hours, answer a new conversation (holidays send their own reply).
    pub off_hours_enabled: bool,
    pub off_hours_message: String,
    /// Send the FAQ list after the off-hours or holiday reply.
    pub faq_after_off_hours: bool,
    /// Outside working hours, a buyer asking for a human still queues; off: they get
    /// `leave_message_reply` and their messages wait for the next working period.
    pub off_hours_queue: bool,
    pub leave_message_reply: String,
    /// Whole-message keywords that hand the buyer to a human (default RG, 人工, 转人工, 人工客服).
    pub transfer_keywords: Vec<String>,
    /// The bot's answer when no FAQ entry matches.
    pub bot_fallback_message: String,
    /// After giving the same answer this many times in a row, the bot offers a human.
    pub bot_offer_after: u32,
}

impl From<ServiceSettings> for ServiceSettingsDto {
    fn from(s: ServiceSettings) -> Self {
        Self {
            categories_required: s.categories_required,
            reception_timeout_minutes: s.reception_timeout_minutes,
            timeout_message: s.timeout_message,
            ratings_enabled: s.ratings_enabled,
            rating_kind: s.rating_kind,
            rating_expiry_hours: s.rating_expiry_hours,
            rating_by_buyer: s.rating_by_buyer,
            requeue_after_minutes: s.requeue_after_minutes,
            buyer_group_choice: s.buyer_group_choice,
            welcome_enabled: s.welcome_enabled,
            welcome_message: s.welcome_message,
            faq_after_welcome: s.faq_after_welcome,
            off_hours_enabled: s.off_hours_enabled,
            off_hours_message: s.off_hours_message,
            faq_after_off_hours: s.faq_after_off_hours,
            off_hours_queue: s.off_hours_queue,
            leave_message_reply: s.leave_message_reply,
            transfer_keywords: s.transfer_keywords,
            bot_fallback_message: s.bot_fallback_message,
            bot_offer_after: s.bot_offer_after,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct UpdateServiceSettingsRequest {
    pub categories_required: Option<bool>,
    pub reception_timeout_minutes: Option<i64>,
    pub timeout_message: Option<String>,
    pub ratings_enabled: Option<bool>,
    pub rating_kind: Option<u8>,
    pub rating_expiry_hours: Option<i64>,
    pub rating_by_buyer: Option<bool>,
    /// `0` clears it (conversations wait for their agent).
    pub requeue_after_minutes: Option<i64>,
    pub buyer_group_choice: Option<bool>,
    pub welcome_enabled: Option<bool>,
    pub welcome_message: Option<String>,
    pub faq_after_welcome: Option<bool>,
    pub off_hours_enabled: Option<bool>,
    pub off_hours_message: Option<String>,
    pub faq_after_off_hours: Option<bool>,
    pub off_hours_queue: Option<bool>,
    pub leave_message_reply: Option<String>,
    pub transfer_keywords: Option<Vec<String>>,
    pub bot_fallback_message: Option<String>,
    pub bot_offer_after: Option<u32>,
}

#[derive(Debug, Clone, Object)]
pub struct TreeNodeDto {
    pub id: i64,
    pub parent_id: Option<i64>,
    pub name: String,
    /// Order among siblings, ascending.
    pub position: i64,
    /// Categories: the skill groups that offer it (on a top-level category; empty: all).
    pub skill_group_ids: Vec<i64>,
    pub created_at: i64,
}

impl From<TreeNode> for TreeNodeDto {
    fn from(n: TreeNode) -> Self {
        Self {
            id: n.id,
            parent_id: n.parent_id,
            name: n.name,
            position: n.position,
            skill_group_ids: n.skill_group_ids.into_iter().map(|g| g.0).collect(),
            created_at: n.created_at,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct TreeNodeRequest {
    /// Up to 32 characters.
    pub name: String,
    pub parent_id: Option<i64>,
    #[oai(default)]
    pub position: i64,
    /// Categories only.
    #[oai(default)]
    pub skill_group_ids: Vec<i64>,
}

#[derive(Debug, Clone, Object)]
pub struct TagMessageRequest {
    pub tag_id: i64,
    /// Up to 500 characters.
    #[oai(default)]
    pub note: String,
}

#[derive(Debug, Clone, Object)]
pub struct MessageTagDto {
    pub id: i64,
    pub tag_id: i64,
    pub tag_name: String,
    pub conversation_id: i64,
    /// The tagged message: its chat and sequence number.
    pub chat_id: i64,
    pub seq: i64,
    /// The message's searchable text.
    pub text: String,
    pub buyer: String,
    pub agent_id: Option<i64>,
    pub note: String,
    pub created_at: i64,
}

impl From<kefu_store::MessageTag> for MessageTagDto {
    fn from(t: kefu_store::MessageTag) -> Self {
        Self {
            id: t.id,
            tag_id: t.tag_id,
            tag_name: t.tag_name,
            conversation_id: t.conversation_id,
            chat_id: t.chat_id,
            seq: t.seq,
            text: t.text,
            buyer: t.buyer,
            agent_id: t.agent_id.map(|a| a.0),
            note: t.note,
            created_at: t.created_at,
        }
    }
}

/// One agent's part of a conversation (子会话).
#[derive(Debug, Clone, Object)]
pub struct SessionDto {
    pub id: i64,
    pub agent_id: Option<i64>,
    pub skill_group_id: Option<i64>,
    pub started_at: i64,
    pub first_reply_at: Option<i64>,
    pub ended_at: Option<i64>,
    /// `agent`, `admin`, `buyer_left`, `timeout`, `transferred`, `requeued`.
    pub end_reason: Option<String>,
    pub categories: Vec<i64>,
    pub note: String,
    /// 1 (very dissatisfied) to 5 (very satisfied).
    pub rating: Option<i64>,
    pub rating_label: String,
    pub rated_at: Option<i64>,
    /// Until when the rating card sent for it can be answered.
    pub rating_expires_at: Option<i64>,
}

/// A milestone of a conversation.
#[derive(Debug, Clone, Object)]
pub struct EventDto {
    pub id: i64,
    pub session_id: Option<i64>,
    pub kind: String,
    /// `account:{id}`, `buyer:{identifier}` or `system`.
    pub actor: String,
    pub detail: serde_json::Value,
    pub at: i64,
}

#[derive(ApiResponse)]
enum CreatedNode {
    #[oai(status = 201)]
    Created(Json<TreeNodeDto>),
}

#[derive(ApiResponse)]
enum CreatedTag {
    #[oai(status = 201)]
    Created(Json<MessageTagDto>),
}

#[derive(ApiResponse)]
enum Deleted {
    #[oai(status = 204)]
    Deleted,
}

fn note(note: &str) -> Result<(), ApiError> {
    if note.chars().count() > 500 {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            "note: at most 500 characters",
        ));
    }
    Ok(())
}

fn node_request(b: TreeNodeRequest) -> Result<NewTreeNode, ApiError> {
    validate::text("name", &b.name, 32).map_err(ApiError::invalid)?;
    Ok(NewTreeNode {
        parent_id: b.parent_id,
        name: b.name.trim().to_string(),
        position: b.position,
        skill_group_ids: b.skill_group_ids.into_iter().map(SkillGroupId).collect(),
    })
}

pub struct ServiceApi;

impl ServiceApi {
    async fn tree(state: &State, auth: &Auth, tree: Tree) -> Result<Vec<TreeNodeDto>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::TREES, action::READ)
            .await?;
        Ok(state
            .store
            .tree(tenant, tree)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    async fn create_node(
        state: &State,
        auth: &Auth,
        tree: Tree,
        body: TreeNodeRequest,
    ) -> Result<CreatedNode, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::TREES, action::WRITE)
            .await?;
        let node = node_request(body)?;
        let created = state
            .store
            .create_node(tenant, tree, &node, state.clock.now())
            .await?;
        state
            .audit(
                &auth.0,
                &format!("{}_created", tree.noun()),
                &created.name,
                "",
            )
            .await;
        Ok(CreatedNode::Created(Json(created.into())))
    }

    async fn update_node(
        state: &State,
        auth: &Auth,
        tree: Tree,
        id: i64,
        body: TreeNodeRequest,
    ) -> Result<Json<TreeNodeDto>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::TREES, action::WRITE)
            .await?;
        let node = node_request(body)?;
        let updated = state.store.update_node(tenant, tree, id, &node).await?;
        state
            .audit(
                &auth.0,
                &format!("{}_updated", tree.noun()),
                &updated.name,
                "",
            )
            .await;
        Ok(Json(updated.into()))
    }

    async fn delete_node(
        state: &State,
        auth: &Auth,
        tree: Tree,
        id: i64,
    ) -> Result<Deleted, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::TREES, action::WRITE)
            .await?;
        state.store.delete_node(tenant, tree, id).await?;
        state
            .audit(
                &auth.0,
                &format!("{}_deleted", tree.noun()),
                &id.to_string(),
                "",
            )
            .await;
        Ok(Deleted::Deleted)
    }

    /// The caller's tenant, once conversation `id` is known to be in it and readable.
    async fn readable_conversation(
        state: &State,
        auth: &Auth,
        id: i64,
    ) -> Result<TenantId, ApiError> {
        let (tenant, _) =
            crate::conversations::ConversationsApi::load(state, auth, id, action::READ).await?;
        Ok(tenant)
    }

    async fn settings_of(state: &State, tenant: TenantId) -> Result<ServiceSettings, ApiError> {
        Ok(state.store.service_settings(tenant).await?)
    }
}

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Service")]
impl ServiceApi {
    /// Get the service settings
    ///
    /// Errors: 403 `forbidden`.
    #[oai(
        path = "/settings/service",
        method = "get",
        operation_id = "getServiceSettings"
    )]
    async fn get_settings(
        &self,
        state: Data<&State>,
        auth: Auth,
    ) -> Result<Json<ServiceSettingsDto>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::SERVICE_SETTINGS, action::READ)
            .await?;
        Ok(Json(Self::settings_of(&state, tenant).await?.into()))
    }

    /// Change the service settings
    ///
    /// Absent fields keep their value. A new reception timeout applies from each
    /// conversation's next agent message.
    ///
    /// Errors: 400 `validation_failed`; 403 `forbidden`.
    #[oai(
        path = "/settings/service",
        method = "patch",
        operation_id = "updateServiceSettings"
    )]
    async fn update_settings(
        &self,
        state: Data<&State>,
        auth: Auth,
        body: Json<UpdateServiceSettingsRequest>,
    ) -> Result<Json<ServiceSettingsDto>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::SERVICE_SETTINGS, action::WRITE)
            .await?;
        let b = body.0;
        let mut s = Self::settings_of(&state, tenant).await?;
        macro_rules! set {
            ($($field:ident),*) => { $( if let Some(v) = b.$field { s.$field = v; } )* };
        }
        set!(
            categories_required,
            reception_timeout_minutes,
            timeout_message,
            ratings_enabled,
            rating_kind,
            rating_expiry_hours,
            rating_by_buyer,
            buyer_group_choice,
            welcome_enabled,
            welcome_message,
            faq_after_welcome,
            off_hours_enabled,
            off_hours_message,
            faq_after_off_hours,
            off_hours_queue,
            leave_message_reply,
            transfer_keywords,
            bot_fallback_message,
            bot_offer_after
        );
        if let Some(m) = b.requeue_after_minutes {
            s.requeue_after_minutes = (m != 0).then_some(m);
        }
        s.validate().map_err(ApiError::invalid)?;
        state
            .store
            .save_service_settings(tenant, &s, state.clock.now())
            .await?;
        kefu_engine::cache::forget_service_settings(&state.store, tenant);
        let detail = serde_json::to_string(&s).unwrap_or_default();
        state
            .audit(&auth.0, "service_settings_updated", "service", &detail)
            .await;
        Ok(Json(s.into()))
    }

    /// List consultation categories
    ///
    /// The whole tree, flat: build it from `parent_id`; siblings come by `position`.
    ///
    /// Errors: 403 `forbidden`.
    #[oai(path = "/categories", method = "get", operation_id = "listCategories")]
    async fn categories(
        &self,
        state: Data<&State>,
        auth: Auth,
    ) -> Result<Json<Vec<TreeNodeDto>>, ApiError> {
        Ok(Json(Self::tree(&state, &auth, Tree::Categories).await?))
    }

    /// Create a consultation category
    ///
    /// Errors: 400 `validation_failed`, `unknown_skill_group`; 403 `forbidden`; 409
    /// `state_conflict` (unknown parent).
    #[oai(path = "/categories", method = "post", operation_id = "createCategory")]
    async fn create_category(
        &self,
        state: Data<&State>,
        auth: Auth,
        body: Json<TreeNodeRequest>,
    ) -> Result<CreatedNode, ApiError> {
        Self::create_node(&state, &auth, Tree::Categories, body.0).await
    }

    /// Change a consultation category
    ///
    /// Replaces its name, parent, position and groups. It cannot move under itself.
    ///
    /// Errors: 400 `validation_failed`, `unknown_skill_group`; 403 `forbidden`; 404
    /// `not_found`; 409 `state_conflict`.
    #[oai(
        path = "/categories/:id",
        method = "put",
        operation_id = "updateCategory"
    )]
    async fn update_category(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
        body: Json<TreeNodeRequest>,
    ) -> Result<Json<TreeNodeDto>, ApiError> {
        Self::update_node(&state, &auth, Tree::Categories, id.0, body.0).await
    }

    /// Delete a consultation category
    ///
    /// Only a category without children. Conversations ended with it keep its id.
    ///
    /// Errors: 403 `forbidden`; 404 `not_found`; 409 `in_use`.
    #[oai(
        path = "/categories/:id",
        method = "delete",
        operation_id = "deleteCategory"
    )]
    async fn delete_category(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
    ) -> Result<Deleted, ApiError> {
        Self::delete_node(&state, &auth, Tree::Categories, id.0).await
    }

    /// List message tags
    ///
    /// Errors: 403 `forbidden`.
    #[oai(path = "/tags", method = "get", operation_id = "listTags")]
    async fn tags(
        &self,
        state: Data<&State>,
        auth: Auth,
    ) -> Result<Json<Vec<TreeNodeDto>>, ApiError> {
        Ok(Json(Self::tree(&state, &auth, Tree::Tags).await?))
    }

    /// Create a message tag
    ///
    /// Errors: 400 `validation_failed`; 403 `forbidden`; 409 `state_conflict` (unknown parent).
    #[oai(path = "/tags", method = "post", operation_id = "createTag")]
    async fn create_tag(
        &self,
        state: Data<&State>,
        auth: Auth,
        body: Json<TreeNodeRequest>,
    ) -> Result<CreatedNode, ApiError> {
        Self::create_node(&state, &auth, Tree::Tags, body.0).await
    }

    /// Change a message tag
    ///
    /// Errors: 400 `validation_failed`; 403 `forbidden`; 404 `not_found`; 409 `state_conflict`.
    #[oai(path = "/tags/:id", method = "put", operation_id = "updateTag")]
    async fn update_tag(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
        body: Json<TreeNodeRequest>,
    ) -> Result<Json<TreeNodeDto>, ApiError> {
        Self::update_node(&state, &auth, Tree::Tags, id.0, body.0).await
    }

    /// Delete a message tag
    ///
    /// Only a tag without children that no message carries.
    ///
    /// Errors: 403 `forbidden`; 404 `not_found`; 409 `in_use`.
    #[oai(path = "/tags/:id", method = "delete", operation_id = "deleteTag")]
    async fn delete_tag(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
    ) -> Result<Deleted, ApiError> {
        Self::delete_node(&state, &auth, Tree::Tags, id.0).await
    }

    /// Tag a message
    ///
    /// The serving agent (or an admin) tags one message of the conversation, with a note.
    ///
    /// Errors: 400 `validation_failed`; 403 `forbidden`; 404 `not_found`; 409 `duplicate`
    /// (the message has this tag), `state_conflict` (no such tag or message).
    #[oai(
        path = "/conversations/:id/messages/:seq/tags",
        method = "post",
        operation_id = "tagMessage"
    )]
    async fn tag_message(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
        seq: Path<i64>,
        body: Json<TagMessageRequest>,
    ) -> Result<CreatedTag, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::MESSAGE_TAGS, action::WRITE)
            .await?;
        note(&body.note)?;
        let c = state
            .store
            .get_conversation(tenant, id.0)
            .await?
            .ok_or_else(|| ApiError::not_found("conversation"))?;
        let me = auth.0.account.id;
        let admin = state
            .authz
            .allows(&auth.0.account, object::ALL_CONVERSATIONS, action::READ)
            .await;
        let served = state
            .store
            .sessions_of(tenant, c.id)
            .await?
            .iter()
            .any(|s| s.agent_id == Some(me));
        if !admin && !served {
            return Err(ApiError::forbidden(
                "only agents who served this conversation tag its messages",
            ));
        }
        let tag = NewMessageTag {
            tag_id: body.0.tag_id,
            conversation_id: c.id,
            seq: seq.0,
            agent_id: me,
            note: body.0.note,
        };
        let tagged = state
            .store
            .tag_message(tenant, &tag, state.clock.now())
            .await?;
        Ok(CreatedTag::Created(Json(tagged.into())))
    }

    /// Remove a tag from a message
    ///
    /// Errors: 403 `forbidden`; 404 `not_found`.
    #[oai(
        path = "/message-tags/:id",
        method = "delete",
        operation_id = "untagMessage"
    )]
    async fn untag(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
    ) -> Result<Deleted, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::MESSAGE_TAGS, action::WRITE)
            .await?;
        state.store.untag_message(tenant, id.0).await?;
        Ok(Deleted::Deleted)
    }

    /// Search tagged messages
    ///
    /// By agent, buyer, tag, part of the note and time (ms, `from` inclusive, `to`
    /// exclusive); newest first.
    ///
    /// Errors: 403 `forbidden`.
    #[oai(
        path = "/message-tags",
        method = "get",
        operation_id = "searchMessageTags"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn search_tags(
        &self,
        state: Data<&State>,
        auth: Auth,
        agent_id: Query<Option<i64>>,
        buyer: Query<Option<String>>,
        tag_id: Query<Option<i64>>,
        note: Query<Option<String>>,
        from: Query<Option<i64>>,
        to: Query<Option<i64>>,
        /// At most this many (default 100, at most 500).
        limit: Query<Option<i64>>,
    ) -> Result<Json<Vec<MessageTagDto>>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::MESSAGE_TAGS, action::READ)
            .await?;
        let filter = MessageTagFilter {
            agent: agent_id.0.map(AccountId),
            buyer: buyer.0.filter(|b| !b.trim().is_empty()),
            tag: tag_id.0,
            note: note.0,
            from: from.0,
            to: to.0,
            limit: limit.0.unwrap_or(100).clamp(1, 500),
        };
        Ok(Json(
            state
                .store
                .message_tags(tenant, &filter)
                .await?
                .into_iter()
                .map(Into::into)
                .collect(),
        ))
    }

    /// A conversation's events
    ///
    /// Every milestone in order: created, queued, assigned, accepted, first_agent_reply,
    /// transferred (with from, to and the note), agent_lost, ended, rated. `detail` is JSON.
    ///
    /// Errors: 403 `forbidden`; 404 `not_found`.
    #[oai(
        path = "/conversations/:id/events",
        method = "get",
        operation_id = "conversationEvents"
    )]
    async fn events(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
    ) -> Result<Json<Vec<EventDto>>, ApiError> {
        let tenant = Self::readable_conversation(&state, &auth, id.0).await?;
        Ok(Json(
            state
                .store
                .conversation_events(tenant, id.0)
                .await?
                .into_iter()
                .map(|e| EventDto {
                    id: e.id,
                    session_id: e.session_id,
                    kind: e.kind,
                    actor: e.actor,
                    detail: serde_json::from_str(&e.detail).unwrap_or(serde_json::Value::Null),
                    at: e.at,
                })
                .collect(),
        ))
    }

    /// A conversation's sessions
    ///
    /// One per agent who served it, with how it ended, its categories and its rating.
    ///
    /// Errors: 403 `forbidden`; 404 `not_found`.
    #[oai(
        path = "/conversations/:id/sessions",
        method = "get",
        operation_id = "conversationSessions"
    )]
    async fn sessions(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
    ) -> Result<Json<Vec<SessionDto>>, ApiError> {
        let tenant = Self::readable_conversation(&state, &auth, id.0).await?;
        Ok(Json(
            state
                .store
                .sessions_of(tenant, id.0)
                .await?
                .into_iter()
                .map(|s| SessionDto {
                    id: s.id,
                    agent_id: s.agent_id.map(|a| a.0),
                    skill_group_id: s.skill_group_id.map(|g| g.0),
                    started_at: s.started_at,
                    first_reply_at: s.first_reply_at,
                    ended_at: s.ended_at,
                    end_reason: s.end_reason,
                    categories: s.categories,
                    note: s.note,
                    rating: s.rating,
                    rating_label: s.rating_label,
                    rated_at: s.rated_at,
                    rating_expires_at: s.rating_expires_at,
                })
                .collect(),
        ))
    }
}
