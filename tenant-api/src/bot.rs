//! What answers buyers before a human, managed by admins: the FAQ (常见问题) and the
//! knowledge base (知识库, agents' quick replies), service flows (会话服务流) with their
//! published versions, the time plan (时间计划) and sensitive words (敏感词).

use crate::State;
use crate::error::{ApiError, ErrorCode};
use crate::security::Auth;
use kefu_auth::authz::{action, object};
use kefu_domain::moderation::{MAX_WORD_CHARS, Word, WordAction};
use kefu_domain::schedule::{Period, Schedule};
use kefu_domain::{Role, SkillGroupId, TenantId, flow, validate};
use kefu_store::{FlowRecord, FlowVersion, KnowledgeEntry, KnowledgeKind, NewKnowledge};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Tags};
use serde::{Deserialize, Serialize};

#[derive(Tags)]
enum Tag {
    /// The FAQ and knowledge base, service flows, the time plan and sensitive words.
    Bot,
}

/// Most sensitive words per tenant.
const MAX_WORDS: usize = 10_000;

// ---------------------------------------------------------------------------------------
// FAQ and knowledge base

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum AnswerKind {
    Text,
    /// The answer is an image URL.
    Image,
}

#[derive(Debug, Clone, Object)]
pub struct KnowledgeDto {
    pub id: i64,
    pub parent_id: Option<i64>,
    pub title: String,
    pub answer_kind: AnswerKind,
    /// The text, or the image's URL.
    pub answer: String,
    pub keywords: Vec<String>,
    pub enabled: bool,
    /// Shown with a NEW badge (knowledge base).
    pub is_new: bool,
    /// Validity period in milliseconds since the epoch; absent: unbounded (permanent).
    pub valid_from: Option<i64>,
    pub valid_to: Option<i64>,
    /// Times the bot answered with it, or agents used it as a quick reply.
    pub uses: i64,
    /// Order among siblings, ascending.
    pub position: i64,
    /// The skill groups this subtree is assigned to. Empty: it follows its parent; with no
    /// assignment anywhere up the chain, every group sees it.
    pub skill_group_ids: Vec<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<KnowledgeEntry> for KnowledgeDto {
    fn from(e: KnowledgeEntry) -> Self {
        Self {
            id: e.id,
            parent_id: e.parent_id,
            title: e.title,
            answer_kind: if e.answer_kind == "image" {
                AnswerKind::Image
            } else {
                AnswerKind::Text
            },
            answer: e.answer,
            keywords: e.keywords,
            enabled: e.enabled,
            is_new: e.is_new,
            valid_from: e.valid_from,
            valid_to: e.valid_to,
            uses: e.uses,
            position: e.position,
            skill_group_ids: e.skill_group_ids.into_iter().map(|g| g.0).collect(),
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct KnowledgeRequest {
    /// Up to 100 characters; shown in menus and the tree.
    pub title: String,
    pub parent_id: Option<i64>,
    #[oai(default = "default_kind")]
    pub answer_kind: AnswerKind,
    /// Up to 5000 characters; an `https://` URL or a `/media/…` path for images. May be
    /// empty for an entry that only groups others.
    #[oai(default)]
    pub answer: String,
    /// Up to 20 keywords of up to 30 characters each.
    #[oai(default)]
    pub keywords: Vec<String>,
    #[oai(default = "yes")]
    pub enabled: bool,
    #[oai(default)]
    pub is_new: bool,
    pub valid_from: Option<i64>,
    pub valid_to: Option<i64>,
    /// Absent: after its last sibling (or where it is, when it stays under the same parent).
    pub position: Option<i64>,
    #[oai(default)]
    pub skill_group_ids: Vec<i64>,
}

fn default_kind() -> AnswerKind {
    AnswerKind::Text
}

fn yes() -> bool {
    true
}

fn knowledge_request(b: KnowledgeRequest) -> Result<NewKnowledge, ApiError> {
    validate::text("title", &b.title, 100).map_err(ApiError::invalid)?;
    if b.answer.chars().count() > 5000 {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            "answer: at most 5000 characters",
        ));
    }
    if b.answer_kind == AnswerKind::Image {
        let a = b.answer.trim();
        if !(a.starts_with("https://") || a.starts_with("http://") || a.starts_with('/')) {
            return Err(ApiError::new(
                ErrorCode::ValidationFailed,
                "answer: an image answer is its URL (https://… or a /media/… path from an upload)",
            ));
        }
    }
    let keywords: Vec<String> = b
        .keywords
        .iter()
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .collect();
    if keywords.len() > 20 || keywords.iter().any(|k| k.chars().count() > 30) {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            "keywords: at most 20 keywords of up to 30 characters each",
        ));
    }
    if let (Some(from), Some(to)) = (b.valid_from, b.valid_to)
        && to < from
    {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            "valid_to: the validity period ends before it starts",
        ));
    }
    Ok(NewKnowledge {
        parent_id: b.parent_id,
        title: b.title.trim().to_string(),
        answer_kind: match b.answer_kind {
            AnswerKind::Text => "text".into(),
            AnswerKind::Image => "image".into(),
        },
        answer: b.answer,
        keywords,
        enabled: b.enabled,
        is_new: b.is_new,
        valid_from: b.valid_from,
        valid_to: b.valid_to,
        position: b.position,
        skill_group_ids: b.skill_group_ids.into_iter().map(SkillGroupId).collect(),
    })
}

/// Search filters for one tree.
struct KnowledgeQuery {
    q: Option<String>,
    enabled: Option<bool>,
    is_new: Option<bool>,
    created_from: Option<i64>,
    created_to: Option<i64>,
    group: Option<i64>,
}

impl KnowledgeQuery {
    /// Text matches the title, a keyword or the answer, ignoring case; Chinese needs no
    /// word boundaries, so any run of characters matches.
    fn keeps(&self, e: &KnowledgeEntry) -> bool {
        if let Some(q) = self.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            let q = q.to_lowercase();
            let hit = e.title.to_lowercase().contains(&q)
                || e.answer.to_lowercase().contains(&q)
                || e.keywords.iter().any(|k| k.to_lowercase().contains(&q));
            if !hit {
                return false;
            }
        }
        self.enabled.is_none_or(|v| e.enabled == v)
            && self.is_new.is_none_or(|v| e.is_new == v)
            && self.created_from.is_none_or(|f| e.created_at >= f)
            && self.created_to.is_none_or(|t| e.created_at <= t)
    }
}

#[derive(ApiResponse)]
enum CreatedKnowledge {
    #[oai(status = 201)]
    Created(Json<KnowledgeDto>),
}

#[derive(ApiResponse)]
enum Deleted {
    #[oai(status = 204)]
    Deleted,
}

// ---------------------------------------------------------------------------------------
// Flows

#[derive(Debug, Clone, Object)]
pub struct FlowErrorDto {
    /// The node the problem is at; absent: the flow as a whole.
    pub node: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Object)]
pub struct FlowValidation {
    pub valid: bool,
    pub errors: Vec<FlowErrorDto>,
}

#[derive(Debug, Clone, Object)]
pub struct FlowVersionDto {
    /// The version's id (conversations record it).
    pub id: i64,
    /// 1, 2, 3… per flow.
    pub version: i64,
    pub published_at: i64,
    pub published_by: String,
    pub doc: serde_json::Value,
}

impl From<FlowVersion> for FlowVersionDto {
    fn from(v: FlowVersion) -> Self {
        Self {
            id: v.id,
            version: v.version,
            published_at: v.published_at,
            published_by: v.published_by,
            doc: serde_json::from_str(&v.doc).unwrap_or_default(),
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct FlowDto {
    pub id: i64,
    pub name: String,
    /// The customer-service account whose new conversations run its published version.
    pub service_account: Option<String>,
    /// The draft being edited: `{"nodes": [...]}` (see docs/api.md for the node types).
    pub draft: serde_json::Value,
    /// The version new conversations start on; absent until first published.
    pub published_version: Option<i64>,
    /// Whether the draft differs from the published version.
    pub unpublished_changes: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// Newest first (only on `GET /flows/{id}`).
    pub versions: Vec<FlowVersionDto>,
}

fn flow_dto(f: FlowRecord, published: Option<&FlowVersion>, versions: Vec<FlowVersion>) -> FlowDto {
    let draft: serde_json::Value = serde_json::from_str(&f.draft).unwrap_or_default();
    let unpublished_changes = published
        .map(|v| serde_json::from_str::<serde_json::Value>(&v.doc).ok() != Some(draft.clone()))
        .unwrap_or(true);
    FlowDto {
        id: f.id,
        name: f.name,
        service_account: f.service_account,
        draft,
        published_version: f.published_number,
        unpublished_changes,
        created_at: f.created_at,
        updated_at: f.updated_at,
        versions: versions.into_iter().map(Into::into).collect(),
    }
}

#[derive(Debug, Clone, Object)]
pub struct FlowRequest {
    /// Up to 64 characters.
    pub name: String,
    /// Absent: bound to no account (it runs nowhere until bound).
    pub service_account: Option<String>,
    pub draft: serde_json::Value,
}

#[derive(Debug, Clone, Object)]
pub struct ValidateFlowRequest {
    pub draft: serde_json::Value,
}

#[derive(ApiResponse)]
enum CreatedFlow {
    #[oai(status = 201)]
    Created(Json<FlowDto>),
}

// ---------------------------------------------------------------------------------------
// Time plan and words

/// `HH:MM` to `HH:MM` (up to, not including, the end; `24:00` is midnight).
#[derive(Debug, Clone, Object, Serialize, Deserialize)]
pub struct HoursDto {
    pub start: String,
    pub end: String,
}

#[derive(Debug, Clone, Object, Serialize, Deserialize)]
pub struct WorkDayDto {
    /// 1 Monday … 7 Sunday.
    pub weekday: u8,
    pub hours: Vec<HoursDto>,
}

/// A named run of dates (`YYYY-MM-DD`, inclusive).
#[derive(Debug, Clone, Object, Serialize, Deserialize)]
pub struct CustomDaysDto {
    pub name: String,
    pub from: String,
    pub to: String,
    pub hours: Vec<HoursDto>,
}

#[derive(Debug, Clone, Object, Serialize, Deserialize)]
pub struct HolidayDto {
    pub name: String,
    pub from: String,
    pub to: String,
    /// Sent to buyers who write during the holiday.
    pub reply: String,
}

/// The time plan. Holidays override everything on their dates; a custom working day
/// replaces its weekday's hours.
#[derive(Debug, Clone, Object, Serialize, Deserialize)]
pub struct ScheduleDto {
    /// IANA name; default `Asia/Shanghai`.
    pub time_zone: String,
    /// Off: always working hours.
    pub enabled: bool,
    pub weekly: Vec<WorkDayDto>,
    pub custom_days: Vec<CustomDaysDto>,
    pub holidays: Vec<HolidayDto>,
}

fn schedule_dto(s: &Schedule) -> ScheduleDto {
    serde_json::from_value(serde_json::to_value(s).expect("a schedule serialises"))
        .expect("the DTO mirrors the schedule")
}

fn schedule_from(dto: &ScheduleDto) -> Result<Schedule, ApiError> {
    let value = serde_json::to_value(dto).map_err(ApiError::internal)?;
    let s: Schedule = serde_json::from_value(value).map_err(|e| {
        ApiError::new(
            ErrorCode::ValidationFailed,
            format!("schedule: {e}; write times as HH:MM and dates as YYYY-MM-DD"),
        )
    })?;
    s.validate().map_err(ApiError::invalid)?;
    Ok(s)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum PeriodKind {
    Working,
    OffHours,
    Holiday,
}

#[derive(Debug, Clone, Object)]
pub struct PeriodDto {
    pub period: PeriodKind,
    /// The holiday's name and reply, on a holiday.
    pub holiday: Option<String>,
    pub reply: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum WordActionDto {
    /// The message is refused; the sender is told which word.
    Block,
    /// The word becomes `***`.
    Mask,
}

#[derive(Debug, Clone, Object)]
pub struct WordDto {
    /// Up to 64 characters; matched anywhere in a message, ignoring ASCII case.
    pub word: String,
    pub action: WordActionDto,
}

#[derive(Debug, Clone, Object)]
pub struct WordList {
    pub words: Vec<WordDto>,
}

fn words_from(list: WordList) -> Result<Vec<Word>, ApiError> {
    if list.words.len() > MAX_WORDS {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            format!("words: at most {MAX_WORDS} words"),
        ));
    }
    list.words
        .into_iter()
        .map(|w| {
            let word = w.word.trim().to_string();
            if word.is_empty() || word.chars().count() > MAX_WORD_CHARS {
                return Err(ApiError::new(
                    ErrorCode::ValidationFailed,
                    format!(
                        "words: `{word}` must be 1 to {MAX_WORD_CHARS} characters; remove it or shorten it"
                    ),
                ));
            }
            Ok(Word {
                word,
                action: match w.action {
                    WordActionDto::Block => WordAction::Block,
                    WordActionDto::Mask => WordAction::Mask,
                },
            })
        })
        .collect()
}

fn word_list(words: Vec<Word>) -> WordList {
    WordList {
        words: words
            .into_iter()
            .map(|w| WordDto {
                word: w.word,
                action: match w.action {
                    WordAction::Block => WordActionDto::Block,
                    WordAction::Mask => WordActionDto::Mask,
                },
            })
            .collect(),
    }
}

pub struct BotApi;

impl BotApi {
    async fn list_knowledge(
        state: &State,
        auth: &Auth,
        kind: KnowledgeKind,
        query: KnowledgeQuery,
    ) -> Result<Vec<KnowledgeDto>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::KNOWLEDGE, action::READ)
            .await?;
        let all = state.store.knowledge(tenant, kind).await?;
        let now = state.clock.now();
        // Agents see the live entries of their own groups; admins everything, or one
        // group's view.
        let agent = auth.0.account.role == Role::Agent;
        let groups: Option<Vec<SkillGroupId>> = if agent {
            Some(auth.0.account.skill_group_ids.clone())
        } else {
            query.group.map(|g| vec![SkillGroupId(g)])
        };
        Ok(all
            .iter()
            .filter(|e| query.keeps(e))
            .filter(|e| !agent || e.live(now))
            .filter(|e| {
                groups.as_ref().is_none_or(|gs| {
                    gs.iter()
                        .any(|g| kefu_engine::bot::visible(&all, e, Some(*g)))
                })
            })
            .cloned()
            .map(Into::into)
            .collect())
    }

    async fn create_knowledge(
        state: &State,
        auth: &Auth,
        kind: KnowledgeKind,
        body: KnowledgeRequest,
    ) -> Result<CreatedKnowledge, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::KNOWLEDGE, action::WRITE)
            .await?;
        let entry = knowledge_request(body)?;
        let created = state
            .store
            .create_knowledge(tenant, kind, &entry, state.clock.now())
            .await?;
        kefu_engine::cache::forget(&state.store, tenant);
        state
            .audit(
                &auth.0,
                &format!("{}_created", kind.as_str()),
                &created.title,
                &created.id.to_string(),
            )
            .await;
        Ok(CreatedKnowledge::Created(Json(created.into())))
    }

    async fn get_knowledge(
        state: &State,
        auth: &Auth,
        kind: KnowledgeKind,
        id: i64,
    ) -> Result<KnowledgeDto, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::KNOWLEDGE, action::READ)
            .await?;
        state
            .store
            .get_knowledge(tenant, kind, id)
            .await?
            .map(Into::into)
            .ok_or_else(|| ApiError::not_found(kind.noun()))
    }

    async fn update_knowledge(
        state: &State,
        auth: &Auth,
        kind: KnowledgeKind,
        id: i64,
        body: KnowledgeRequest,
    ) -> Result<KnowledgeDto, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::KNOWLEDGE, action::WRITE)
            .await?;
        let entry = knowledge_request(body)?;
        let updated = state
            .store
            .update_knowledge(tenant, kind, id, &entry, state.clock.now())
            .await?;
        kefu_engine::cache::forget(&state.store, tenant);
        state
            .audit(
                &auth.0,
                &format!("{}_updated", kind.as_str()),
                &updated.title,
                &id.to_string(),
            )
            .await;
        Ok(updated.into())
    }

    async fn delete_knowledge(
        state: &State,
        auth: &Auth,
        kind: KnowledgeKind,
        id: i64,
    ) -> Result<Deleted, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::KNOWLEDGE, action::WRITE)
            .await?;
        state.store.delete_knowledge(tenant, kind, id).await?;
        kefu_engine::cache::forget(&state.store, tenant);
        state
            .audit(
                &auth.0,
                &format!("{}_deleted", kind.as_str()),
                &id.to_string(),
                "",
            )
            .await;
        Ok(Deleted::Deleted)
    }

    /// Checks a draft against the tenant's groups.
    async fn check_flow(
        state: &State,
        tenant: TenantId,
        draft: &serde_json::Value,
    ) -> Result<Vec<kefu_domain::flow::FlowError>, ApiError> {
        let groups: Vec<i64> = state
            .store
            .list_skill_groups(tenant)
            .await?
            .iter()
            .map(|g| g.id.0)
            .collect();
        Ok(match flow::parse(draft, &groups) {
            Ok(_) => Vec::new(),
            Err(errors) => errors,
        })
    }

    fn refuse(errors: &[kefu_domain::flow::FlowError]) -> ApiError {
        let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
        ApiError::new(
            ErrorCode::ValidationFailed,
            format!(
                "draft: the flow cannot run: {}; POST /api/v1/flows/validate lists each problem by node",
                list.join("; ")
            ),
        )
    }

    async fn save_flow(
        state: &State,
        auth: &Auth,
        id: Option<i64>,
        body: FlowRequest,
    ) -> Result<FlowDto, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::BOT, action::WRITE)
            .await?;
        validate::text("name", &body.name, 64).map_err(ApiError::invalid)?;
        let errors = Self::check_flow(state, tenant, &body.draft).await?;
        if !errors.is_empty() {
            return Err(Self::refuse(&errors));
        }
        let account = body
            .service_account
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty());
        if let Some(account) = account {
            let app = state.store.get_im_app(tenant).await?;
            let known = app
                .as_ref()
                .is_some_and(|a| a.service_account(account).is_some());
            if !known {
                return Err(ApiError::new(
                    ErrorCode::ValidationFailed,
                    format!(
                        "service_account: `{account}` is not a customer-service account of this tenant's IM app; \
                         see GET /api/v1/im-app"
                    ),
                ));
            }
        }
        let draft = serde_json::to_string(&body.draft).map_err(ApiError::internal)?;
        let saved = state
            .store
            .save_flow(
                tenant,
                id,
                body.name.trim(),
                account,
                &draft,
                state.clock.now(),
            )
            .await?;
        state
            .audit(
                &auth.0,
                if id.is_some() {
                    "flow_updated"
                } else {
                    "flow_created"
                },
                &saved.name,
                &saved.id.to_string(),
            )
            .await;
        Self::flow_out(state, tenant, saved, false).await
    }

    async fn flow_out(
        state: &State,
        tenant: TenantId,
        f: FlowRecord,
        with_versions: bool,
    ) -> Result<FlowDto, ApiError> {
        let published = match f.published_version {
            Some(v) => state.store.flow_version(tenant, v).await?,
            None => None,
        };
        let versions = if with_versions {
            state.store.flow_versions(tenant, f.id).await?
        } else {
            Vec::new()
        };
        Ok(flow_dto(f, published.as_ref(), versions))
    }
}

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Bot")]
impl BotApi {
    /// Search the FAQ
    ///
    /// The whole tree, flat (build it from `parent_id`; siblings by `position`), narrowed by
    /// the filters: `q` matches title, keywords and answer (Chinese included); `created_from`
    /// and `created_to` in milliseconds. Agents get the live entries of their groups.
    ///
    /// Errors: 403 `forbidden`.
    #[oai(path = "/faq", method = "get", operation_id = "listFaq")]
    #[allow(clippy::too_many_arguments)]
    async fn faq(
        &self,
        state: Data<&State>,
        auth: Auth,
        q: Query<Option<String>>,
        enabled: Query<Option<bool>>,
        is_new: Query<Option<bool>>,
        created_from: Query<Option<i64>>,
        created_to: Query<Option<i64>>,
        skill_group_id: Query<Option<i64>>,
    ) -> Result<Json<Vec<KnowledgeDto>>, ApiError> {
        let query = KnowledgeQuery {
            q: q.0,
            enabled: enabled.0,
            is_new: is_new.0,
            created_from: created_from.0,
            created_to: created_to.0,
            group: skill_group_id.0,
        };
        Ok(Json(
            Self::list_knowledge(&state, &auth, KnowledgeKind::Faq, query).await?,
        ))
    }

    /// Create an FAQ entry
    ///
    /// Errors: 400 `validation_failed`; 403 `forbidden`; 409 `state_conflict` (unknown
    /// parent or skill group).
    #[oai(path = "/faq", method = "post", operation_id = "createFaq")]
    async fn create_faq(
        &self,
        state: Data<&State>,
        auth: Auth,
        body: Json<KnowledgeRequest>,
    ) -> Result<CreatedKnowledge, ApiError> {
        Self::create_knowledge(&state, &auth, KnowledgeKind::Faq, body.0).await
    }

    /// Get an FAQ entry
    ///
    /// Errors: 403 `forbidden`; 404 `not_found`.
    #[oai(path = "/faq/:id", method = "get", operation_id = "getFaq")]
    async fn get_faq(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
    ) -> Result<Json<KnowledgeDto>, ApiError> {
        Ok(Json(
            Self::get_knowledge(&state, &auth, KnowledgeKind::Faq, id.0).await?,
        ))
    }

    /// Replace an FAQ entry
    ///
    /// Also moves it: a new `parent_id` or `position`.
    ///
    /// Errors: 400 `validation_failed`; 403 `forbidden`; 404 `not_found`; 409
    /// `state_conflict` (under itself, unknown parent or group).
    #[oai(path = "/faq/:id", method = "put", operation_id = "updateFaq")]
    async fn update_faq(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
        body: Json<KnowledgeRequest>,
    ) -> Result<Json<KnowledgeDto>, ApiError> {
        Ok(Json(
            Self::update_knowledge(&state, &auth, KnowledgeKind::Faq, id.0, body.0).await?,
        ))
    }

    /// Delete an FAQ entry
    ///
    /// Errors: 403 `forbidden`; 404 `not_found`; 409 `in_use` (entries under it).
    #[oai(path = "/faq/:id", method = "delete", operation_id = "deleteFaq")]
    async fn delete_faq(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
    ) -> Result<Deleted, ApiError> {
        Self::delete_knowledge(&state, &auth, KnowledgeKind::Faq, id.0).await
    }

    /// Search the knowledge base
    ///
    /// As `GET /faq`, for the agents' quick replies.
    ///
    /// Errors: 403 `forbidden`.
    #[oai(path = "/knowledge", method = "get", operation_id = "listKnowledge")]
    #[allow(clippy::too_many_arguments)]
    async fn knowledge(
        &self,
        state: Data<&State>,
        auth: Auth,
        q: Query<Option<String>>,
        enabled: Query<Option<bool>>,
        is_new: Query<Option<bool>>,
        created_from: Query<Option<i64>>,
        created_to: Query<Option<i64>>,
        skill_group_id: Query<Option<i64>>,
    ) -> Result<Json<Vec<KnowledgeDto>>, ApiError> {
        let query = KnowledgeQuery {
            q: q.0,
            enabled: enabled.0,
            is_new: is_new.0,
            created_from: created_from.0,
            created_to: created_to.0,
            group: skill_group_id.0,
        };
        Ok(Json(
            Self::list_knowledge(&state, &auth, KnowledgeKind::Kb, query).await?,
        ))
    }

    /// Create a knowledge-base entry
    ///
    /// Errors: 400 `validation_failed`; 403 `forbidden`; 409 `state_conflict`.
    #[oai(path = "/knowledge", method = "post", operation_id = "createKnowledge")]
    async fn create_kb(
        &self,
        state: Data<&State>,
        auth: Auth,
        body: Json<KnowledgeRequest>,
    ) -> Result<CreatedKnowledge, ApiError> {
        Self::create_knowledge(&state, &auth, KnowledgeKind::Kb, body.0).await
    }

    /// Get a knowledge-base entry
    ///
    /// Errors: 403 `forbidden`; 404 `not_found`.
    #[oai(path = "/knowledge/:id", method = "get", operation_id = "getKnowledge")]
    async fn get_kb(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
    ) -> Result<Json<KnowledgeDto>, ApiError> {
        Ok(Json(
            Self::get_knowledge(&state, &auth, KnowledgeKind::Kb, id.0).await?,
        ))
    }

    /// Replace a knowledge-base entry
    ///
    /// Errors: 400 `validation_failed`; 403 `forbidden`; 404 `not_found`; 409
    /// `state_conflict`.
    #[oai(
        path = "/knowledge/:id",
        method = "put",
        operation_id = "updateKnowledge"
    )]
    async fn update_kb(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
        body: Json<KnowledgeRequest>,
    ) -> Result<Json<KnowledgeDto>, ApiError> {
        Ok(Json(
            Self::update_knowledge(&state, &auth, KnowledgeKind::Kb, id.0, body.0).await?,
        ))
    }

    /// Delete a knowledge-base entry
    ///
    /// Errors: 403 `forbidden`; 404 `not_found`; 409 `in_use`.
    #[oai(
        path = "/knowledge/:id",
        method = "delete",
        operation_id = "deleteKnowledge"
    )]
    async fn delete_kb(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
    ) -> Result<Deleted, ApiError> {
        Self::delete_knowledge(&state, &auth, KnowledgeKind::Kb, id.0).await
    }

    /// Count a use of a quick reply
    ///
    /// The console calls this when an agent puts the entry in the input box.
    ///
    /// Errors: 403 `forbidden`; 404 `not_found`.
    #[oai(
        path = "/knowledge/:id/use",
        method = "post",
        operation_id = "useKnowledge"
    )]
    async fn use_kb(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
    ) -> Result<Json<KnowledgeDto>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::KNOWLEDGE, action::READ)
            .await?;
        if !state
            .store
            .knowledge_used(tenant, KnowledgeKind::Kb, id.0)
            .await?
        {
            return Err(ApiError::not_found("knowledge-base entry"));
        }
        Ok(Json(
            Self::get_knowledge(&state, &auth, KnowledgeKind::Kb, id.0).await?,
        ))
    }

    /// List service flows
    ///
    /// Errors: 403 `forbidden`.
    #[oai(path = "/flows", method = "get", operation_id = "listFlows")]
    async fn flows(&self, state: Data<&State>, auth: Auth) -> Result<Json<Vec<FlowDto>>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::BOT, action::READ)
            .await?;
        let mut out = Vec::new();
        for f in state.store.flows(tenant).await? {
            out.push(Self::flow_out(&state, tenant, f, false).await?);
        }
        Ok(Json(out))
    }

    /// Check a flow draft
    ///
    /// Every problem, each next to its node: unknown or unreachable nodes, a missing start
    /// or end, paths that never end, loops that never wait, unknown skill groups or
    /// variables.
    ///
    /// Errors: 403 `forbidden`.
    #[oai(
        path = "/flows/validate",
        method = "post",
        operation_id = "validateFlow"
    )]
    async fn validate_flow(
        &self,
        state: Data<&State>,
        auth: Auth,
        body: Json<ValidateFlowRequest>,
    ) -> Result<Json<FlowValidation>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::BOT, action::READ)
            .await?;
        let errors = Self::check_flow(&state, tenant, &body.0.draft).await?;
        Ok(Json(FlowValidation {
            valid: errors.is_empty(),
            errors: errors
                .into_iter()
                .map(|e| FlowErrorDto {
                    node: e.node,
                    message: e.message,
                })
                .collect(),
        }))
    }

    /// Create a service flow
    ///
    /// Saves the draft (it must be valid); publish it to run it.
    ///
    /// Errors: 400 `validation_failed`; 403 `forbidden`; 409 `state_conflict` (the account
    /// runs another flow).
    #[oai(path = "/flows", method = "post", operation_id = "createFlow")]
    async fn create_flow(
        &self,
        state: Data<&State>,
        auth: Auth,
        body: Json<FlowRequest>,
    ) -> Result<CreatedFlow, ApiError> {
        Ok(CreatedFlow::Created(Json(
            Self::save_flow(&state, &auth, None, body.0).await?,
        )))
    }

    /// Get a service flow with its versions
    ///
    /// Errors: 403 `forbidden`; 404 `not_found`.
    #[oai(path = "/flows/:id", method = "get", operation_id = "getFlow")]
    async fn get_flow(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
    ) -> Result<Json<FlowDto>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::BOT, action::READ)
            .await?;
        let f = state
            .store
            .get_flow(tenant, id.0)
            .await?
            .ok_or_else(|| ApiError::not_found("flow"))?;
        Ok(Json(Self::flow_out(&state, tenant, f, true).await?))
    }

    /// Replace a flow's draft, name or account
    ///
    /// Conversations keep running the version they started on.
    ///
    /// Errors: 400 `validation_failed`; 403 `forbidden`; 404 `not_found`; 409
    /// `state_conflict`.
    #[oai(path = "/flows/:id", method = "put", operation_id = "updateFlow")]
    async fn update_flow(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
        body: Json<FlowRequest>,
    ) -> Result<Json<FlowDto>, ApiError> {
        Ok(Json(
            Self::save_flow(&state, &auth, Some(id.0), body.0).await?,
        ))
    }

    /// Delete a service flow
    ///
    /// Errors: 403 `forbidden`; 404 `not_found`; 409 `in_use` (open conversations run it).
    #[oai(path = "/flows/:id", method = "delete", operation_id = "deleteFlow")]
    async fn delete_flow(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
    ) -> Result<Deleted, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::BOT, action::WRITE)
            .await?;
        state.store.delete_flow(tenant, id.0).await?;
        state
            .audit(&auth.0, "flow_deleted", &id.0.to_string(), "")
            .await;
        Ok(Deleted::Deleted)
    }

    /// Publish a flow's draft
    ///
    /// The draft becomes the next version; new conversations of its account run it from
    /// now on, while conversations already in the flow finish on the version they started.
    ///
    /// Errors: 400 `validation_failed` (the draft no longer fits, e.g. a group was deleted);
    /// 403 `forbidden`; 404 `not_found`.
    #[oai(
        path = "/flows/:id/publish",
        method = "post",
        operation_id = "publishFlow"
    )]
    async fn publish_flow(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
    ) -> Result<Json<FlowDto>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::BOT, action::WRITE)
            .await?;
        let f = state
            .store
            .get_flow(tenant, id.0)
            .await?
            .ok_or_else(|| ApiError::not_found("flow"))?;
        let draft: serde_json::Value = serde_json::from_str(&f.draft).unwrap_or_default();
        let errors = Self::check_flow(&state, tenant, &draft).await?;
        if !errors.is_empty() {
            return Err(Self::refuse(&errors));
        }
        let by = kefu_domain::authz::subject(auth.0.account.id);
        let v = state
            .store
            .publish_flow(tenant, f.id, &f.draft, &by, state.clock.now())
            .await?;
        state
            .audit(
                &auth.0,
                "flow_published",
                &f.name,
                &format!("version {}", v.version),
            )
            .await;
        let f = state
            .store
            .get_flow(tenant, id.0)
            .await?
            .ok_or_else(|| ApiError::not_found("flow"))?;
        Ok(Json(Self::flow_out(&state, tenant, f, true).await?))
    }

    /// Get the time plan
    ///
    /// Errors: 403 `forbidden`.
    #[oai(path = "/schedule", method = "get", operation_id = "getSchedule")]
    async fn schedule(
        &self,
        state: Data<&State>,
        auth: Auth,
    ) -> Result<Json<ScheduleDto>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::SERVICE_SETTINGS, action::READ)
            .await?;
        Ok(Json(schedule_dto(&state.store.schedule(tenant).await?)))
    }

    /// Replace the time plan
    ///
    /// Errors: 400 `validation_failed` (unknown zone, bad times, overlapping ranges, a
    /// range ending before it starts); 403 `forbidden`.
    #[oai(path = "/schedule", method = "put", operation_id = "updateSchedule")]
    async fn update_schedule(
        &self,
        state: Data<&State>,
        auth: Auth,
        body: Json<ScheduleDto>,
    ) -> Result<Json<ScheduleDto>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::SERVICE_SETTINGS, action::WRITE)
            .await?;
        let s = schedule_from(&body.0)?;
        state
            .store
            .save_schedule(tenant, &s, state.clock.now())
            .await?;
        let detail = serde_json::to_string(&s).unwrap_or_default();
        state
            .audit(&auth.0, "schedule_updated", "schedule", &detail)
            .await;
        Ok(Json(schedule_dto(&s)))
    }

    /// Where the time plan puts a moment
    ///
    /// `at`: milliseconds since the epoch (default: now).
    ///
    /// Errors: 403 `forbidden`.
    #[oai(
        path = "/schedule/period",
        method = "get",
        operation_id = "getSchedulePeriod"
    )]
    async fn period(
        &self,
        state: Data<&State>,
        auth: Auth,
        at: Query<Option<i64>>,
    ) -> Result<Json<PeriodDto>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::SERVICE_SETTINGS, action::READ)
            .await?;
        let s = state.store.schedule(tenant).await?;
        Ok(Json(
            match s.at(at.0.unwrap_or_else(|| state.clock.now())) {
                Period::Working => PeriodDto {
                    period: PeriodKind::Working,
                    holiday: None,
                    reply: None,
                },
                Period::OffHours => PeriodDto {
                    period: PeriodKind::OffHours,
                    holiday: None,
                    reply: None,
                },
                Period::Holiday { name, reply } => PeriodDto {
                    period: PeriodKind::Holiday,
                    holiday: Some(name),
                    reply: Some(reply),
                },
            },
        ))
    }

    /// List sensitive words
    ///
    /// Errors: 403 `forbidden`.
    #[oai(
        path = "/sensitive-words",
        method = "get",
        operation_id = "listSensitiveWords"
    )]
    async fn words(&self, state: Data<&State>, auth: Auth) -> Result<Json<WordList>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::BOT, action::READ)
            .await?;
        Ok(Json(word_list(state.store.sensitive_words(tenant).await?)))
    }

    /// Replace the sensitive words
    ///
    /// Up to 10,000 words. They apply to every message buyers and agents send (REST,
    /// socket and console) on this node at once and on other nodes within 5 seconds.
    ///
    /// Errors: 400 `validation_failed`; 403 `forbidden`.
    #[oai(
        path = "/sensitive-words",
        method = "put",
        operation_id = "replaceSensitiveWords"
    )]
    async fn replace_words(
        &self,
        state: Data<&State>,
        auth: Auth,
        body: Json<WordList>,
    ) -> Result<Json<WordList>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::BOT, action::WRITE)
            .await?;
        let words = words_from(body.0)?;
        state
            .store
            .replace_sensitive_words(tenant, &words, state.clock.now())
            .await?;
        kefu_engine::cache::forget(&state.store, tenant);
        state
            .audit(
                &auth.0,
                "sensitive_words_replaced",
                "sensitive_words",
                &format!("{} words", words.len()),
            )
            .await;
        Ok(Json(word_list(state.store.sensitive_words(tenant).await?)))
    }
}
