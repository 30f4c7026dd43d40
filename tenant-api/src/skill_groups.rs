//! Skill groups (技能组): their fields, routing (strategy and the per-agent cap), members'
//! own caps, and deletion only when nothing uses them.

use crate::State;
use crate::error::{ApiError, ErrorCode};
use crate::security::Auth;
use kefu_auth::authz::{action, object};
use kefu_domain::{AccountId, SkillGroupId, TenantId, validate};
use kefu_store::{SkillGroup, SkillGroupPatch, Strategy};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Tags};

#[derive(Tags)]
enum Tag {
    /// Skill groups (技能组).
    SkillGroups,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum StrategyDto {
    /// Lowest load ÷ capacity first; ties go to the agent idle longest (default).
    LeastBusy,
    /// Members in turn.
    RoundRobin,
    /// The agent whose last assignment is oldest.
    LongestIdle,
    /// Nobody is assigned automatically; agents take buyers from the queue.
    Manual,
}

impl From<Strategy> for StrategyDto {
    fn from(s: Strategy) -> Self {
        match s {
            Strategy::LeastBusy => Self::LeastBusy,
            Strategy::RoundRobin => Self::RoundRobin,
            Strategy::LongestIdle => Self::LongestIdle,
            Strategy::Manual => Self::Manual,
        }
    }
}

impl From<StrategyDto> for Strategy {
    fn from(s: StrategyDto) -> Self {
        match s {
            StrategyDto::LeastBusy => Self::LeastBusy,
            StrategyDto::RoundRobin => Self::RoundRobin,
            StrategyDto::LongestIdle => Self::LongestIdle,
            StrategyDto::Manual => Self::Manual,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct SkillGroupDto {
    pub id: i64,
    pub name: String,
    /// The tenant's own code for the group.
    pub identifier: String,
    pub phone: String,
    /// What buyers see when they choose a group.
    pub client_name: String,
    pub visible_to_buyers: bool,
    /// Conversations one member serves at once (接待人数上限), unless they have their own.
    pub agent_cap: i64,
    pub strategy: StrategyDto,
    pub created_at: i64,
}

impl From<SkillGroup> for SkillGroupDto {
    fn from(g: SkillGroup) -> Self {
        Self {
            id: g.id.0,
            name: g.name,
            identifier: g.identifier,
            phone: g.phone,
            client_name: g.client_name,
            visible_to_buyers: g.visible_to_buyers,
            agent_cap: g.agent_cap,
            strategy: g.strategy.into(),
            created_at: g.created_at,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct MemberDto {
    pub account_id: i64,
    /// The member's own cap; absent: the group's.
    pub cap: Option<i64>,
}

#[derive(Debug, Clone, Object)]
pub struct SkillGroupDetailDto {
    #[oai(flatten)]
    pub group: SkillGroupDto,
    /// Members are added and removed on the seat (`skill_group_ids`).
    pub members: Vec<MemberDto>,
}

#[derive(Debug, Clone, Object)]
pub struct CreateSkillGroupRequest {
    pub name: String,
}

/// Fields to change; absent fields stay as they are.
#[derive(Debug, Clone, Object)]
pub struct UpdateSkillGroupRequest {
    pub name: Option<String>,
    pub identifier: Option<String>,
    pub phone: Option<String>,
    pub client_name: Option<String>,
    pub visible_to_buyers: Option<bool>,
    /// 1 to 100.
    pub agent_cap: Option<i64>,
    pub strategy: Option<StrategyDto>,
}

#[derive(Debug, Clone, Object)]
pub struct MemberCapRequest {
    /// 1 to 100, or absent to use the group's cap.
    pub cap: Option<i64>,
}

#[derive(ApiResponse)]
enum CreatedGroup {
    #[oai(status = 201)]
    Created(Json<SkillGroupDto>),
}

#[derive(ApiResponse)]
enum Deleted {
    #[oai(status = 204)]
    Deleted,
}

fn cap(field: &'static str, cap: i64) -> Result<(), ApiError> {
    if (1..=100).contains(&cap) {
        Ok(())
    } else {
        Err(ApiError::invalid(validate::Invalid::new(
            field,
            "use 1 to 100 conversations at once",
        )))
    }
}

fn optional_text(field: &'static str, v: &Option<String>, max: usize) -> Result<(), ApiError> {
    match v {
        Some(t) if t.chars().count() > max => Err(ApiError::invalid(validate::Invalid::new(
            field,
            format!("at most {max} characters"),
        ))),
        _ => Ok(()),
    }
}

pub struct SkillGroupsApi;

impl SkillGroupsApi {
    async fn detail(
        state: &State,
        tenant: TenantId,
        id: SkillGroupId,
    ) -> Result<SkillGroupDetailDto, ApiError> {
        let group = state
            .store
            .get_skill_group(tenant, id)
            .await?
            .ok_or_else(|| ApiError::not_found("skill group"))?;
        let members = state
            .store
            .group_members(tenant, id)
            .await?
            .into_iter()
            .map(|(a, cap)| MemberDto {
                account_id: a.0,
                cap,
            })
            .collect();
        Ok(SkillGroupDetailDto {
            group: group.into(),
            members,
        })
    }
}

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::SkillGroups")]
impl SkillGroupsApi {
    /// List skill groups
    ///
    /// Errors: 403 `forbidden`.
    #[oai(
        path = "/skill-groups",
        method = "get",
        operation_id = "listSkillGroups"
    )]
    async fn list(
        &self,
        state: Data<&State>,
        auth: Auth,
    ) -> Result<Json<Vec<SkillGroupDto>>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::SKILL_GROUPS, action::READ)
            .await?;
        Ok(Json(
            state
                .store
                .list_skill_groups(tenant)
                .await?
                .into_iter()
                .map(Into::into)
                .collect(),
        ))
    }

    /// Create a skill group
    ///
    /// Errors: 400 `validation_failed`; 403 `forbidden`; 409 `duplicate`.
    #[oai(
        path = "/skill-groups",
        method = "post",
        operation_id = "createSkillGroup"
    )]
    async fn create(
        &self,
        state: Data<&State>,
        auth: Auth,
        body: Json<CreateSkillGroupRequest>,
    ) -> Result<CreatedGroup, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::SKILL_GROUPS, action::WRITE)
            .await?;
        validate::text("name", &body.name, 32).map_err(ApiError::invalid)?;
        let g = state
            .store
            .create_skill_group(tenant, body.name.trim(), state.clock.now())
            .await?;
        state
            .audit(&auth.0, "skill_group_created", &g.name, "")
            .await;
        Ok(CreatedGroup::Created(Json(g.into())))
    }

    /// Get a skill group, with its members' caps
    ///
    /// Errors: 403 `forbidden`; 404 `not_found`.
    #[oai(
        path = "/skill-groups/:id",
        method = "get",
        operation_id = "getSkillGroup"
    )]
    async fn get(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
    ) -> Result<Json<SkillGroupDetailDto>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::SKILL_GROUPS, action::READ)
            .await?;
        Ok(Json(
            Self::detail(&state, tenant, SkillGroupId(id.0)).await?,
        ))
    }

    /// Change a skill group
    ///
    /// Fields, routing strategy and the per-agent cap. A new cap applies to the next
    /// assignment; nobody already served is taken away.
    ///
    /// Errors: 400 `validation_failed`; 403 `forbidden`; 404 `not_found`; 409 `duplicate`.
    #[oai(
        path = "/skill-groups/:id",
        method = "patch",
        operation_id = "updateSkillGroup"
    )]
    async fn update(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
        body: Json<UpdateSkillGroupRequest>,
    ) -> Result<Json<SkillGroupDetailDto>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::SKILL_GROUPS, action::WRITE)
            .await?;
        let b = body.0;
        if let Some(name) = &b.name {
            validate::text("name", name, 32).map_err(ApiError::invalid)?;
        }
        optional_text("identifier", &b.identifier, 64)?;
        optional_text("phone", &b.phone, 32)?;
        optional_text("client_name", &b.client_name, 32)?;
        if let Some(c) = b.agent_cap {
            cap("agent_cap", c)?;
        }
        let patch = SkillGroupPatch {
            name: b.name.map(|n| n.trim().to_string()),
            identifier: b.identifier.map(|t| t.trim().to_string()),
            phone: b.phone.map(|t| t.trim().to_string()),
            client_name: b.client_name.map(|t| t.trim().to_string()),
            visible_to_buyers: b.visible_to_buyers,
            agent_cap: b.agent_cap,
            strategy: b.strategy.map(Into::into),
        };
        let g = state
            .store
            .update_skill_group(tenant, SkillGroupId(id.0), &patch, state.clock.now())
            .await?;
        state
            .audit(&auth.0, "skill_group_updated", &g.name, "")
            .await;
        // A larger cap or an automatic strategy may let waiting buyers through now.
        state.engine().drain(tenant, g.id).await?;
        Ok(Json(Self::detail(&state, tenant, g.id).await?))
    }

    /// Delete a skill group
    ///
    /// Only a group nothing uses: no members, no open conversations, no customer-service
    /// account bound to it, no service flow transferring to it. Otherwise the answer says
    /// what uses it.
    ///
    /// Errors: 403 `forbidden`; 404 `not_found`; 409 `in_use`.
    #[oai(
        path = "/skill-groups/:id",
        method = "delete",
        operation_id = "deleteSkillGroup"
    )]
    async fn delete(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
    ) -> Result<Deleted, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::SKILL_GROUPS, action::WRITE)
            .await?;
        // A service flow that transfers here would strand its buyers.
        for f in state.store.flows(tenant).await? {
            let mut docs = vec![f.draft.clone()];
            if let Some(v) = f.published_version
                && let Some(v) = state.store.flow_version(tenant, v).await?
            {
                docs.push(v.doc);
            }
            if docs
                .iter()
                .any(|d| kefu_domain::flow::transfers_to(d, id.0))
            {
                return Err(ApiError::new(
                    ErrorCode::InUse,
                    format!(
                        "service flow `{}` transfers to this group; point its transfer elsewhere and publish it first",
                        f.name
                    ),
                ));
            }
        }
        state
            .store
            .delete_skill_group(tenant, SkillGroupId(id.0))
            .await?;
        state
            .audit(&auth.0, "skill_group_deleted", &id.0.to_string(), "")
            .await;
        Ok(Deleted::Deleted)
    }

    /// Set a member's own cap
    ///
    /// Overrides the group's cap for one agent; absent `cap` goes back to the group's.
    ///
    /// Errors: 400 `validation_failed`; 403 `forbidden`; 404 `not_found` (not a member).
    #[oai(
        path = "/skill-groups/:id/members/:account_id/cap",
        method = "put",
        operation_id = "setMemberCap"
    )]
    async fn member_cap(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
        account_id: Path<i64>,
        body: Json<MemberCapRequest>,
    ) -> Result<Json<SkillGroupDetailDto>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::SKILL_GROUPS, action::WRITE)
            .await?;
        if let Some(c) = body.0.cap {
            cap("cap", c)?;
        }
        let group = SkillGroupId(id.0);
        state
            .store
            .set_member_cap(tenant, group, AccountId(account_id.0), body.0.cap)
            .await
            .map_err(|e| match e {
                kefu_store::StoreError::NotFound => ApiError::new(
                    ErrorCode::NotFound,
                    "that account is not a member of this group; add the group to the seat first",
                ),
                e => e.into(),
            })?;
        state.engine().drain(tenant, group).await?;
        Ok(Json(Self::detail(&state, tenant, group).await?))
    }
}
