//! `/api/v1/platform`: operators create tenants and set their plans.

use crate::State;
use crate::dto::{AccountDto, AuditPage, TenantDto};
use crate::error::ApiError;
use crate::security::Auth;
use kefu_auth::authz::{action, object};
use kefu_domain::{Role, TenantId, validate};
use kefu_store::{NewAccount, NewTenant, TenantPatch};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

#[derive(Tags)]
enum Tag {
    /// Platform operators: tenants and plans.
    Platform,
}

/// New tenants get the 832 supplier edition's plan unless told otherwise: 2 seats, 2 online.
const DEFAULT_LIMIT: i64 = 2;

#[derive(Debug, Object)]
pub struct NewTenantAdmin {
    pub username: String,
    /// Where the initial password is mailed, if given.
    #[oai(default)]
    pub email: String,
    /// Defaults to the username.
    pub display_name: Option<String>,
}

#[derive(Debug, Object)]
pub struct CreateTenantRequest {
    /// 2–32 lower-case letters, digits or '-', starting with a letter. Used in logins and URLs.
    pub code: String,
    pub name: String,
    /// Seats that may exist, not counting the owner. Default 2.
    pub max_accounts: Option<i64>,
    /// Seats that may be online at once. Default 2.
    pub max_online: Option<i64>,
    /// The tenant's owner, its first super admin.
    pub admin: NewTenantAdmin,
}

#[derive(Debug, Object)]
pub struct CreatedTenant {
    pub tenant: TenantDto,
    pub admin: AccountDto,
    /// The owner's initial password. Shown this once; it must be changed at first login.
    pub initial_password: String,
    /// Whether the password was also mailed to the admin's email.
    pub password_mailed: bool,
}

#[derive(Debug, Object)]
pub struct UpdateTenantRequest {
    pub name: Option<String>,
    pub max_accounts: Option<i64>,
    pub max_online: Option<i64>,
}

#[derive(ApiResponse)]
enum Created {
    #[oai(status = 201)]
    Created(Json<CreatedTenant>),
}

pub struct PlatformApi;

#[OpenApi(prefix_path = "/api/v1/platform", tag = "Tag::Platform")]
impl PlatformApi {
    /// Create a tenant
    ///
    /// Creates the tenant with its plan and its owner, and returns the owner's initial
    /// password once.
    ///
    /// Errors: 400 `validation_failed`; 403 `forbidden` for non-operators; 409 `duplicate`
    /// when the code is taken.
    #[oai(path = "/tenants", method = "post", operation_id = "createTenant")]
    async fn create(
        &self,
        state: Data<&State>,
        auth: Auth,
        body: Json<CreateTenantRequest>,
    ) -> Result<Created, ApiError> {
        state
            .require(&auth.0, object::TENANTS, action::WRITE)
            .await?;
        let body = body.0;
        let code = body.code.trim().to_string();
        validate::tenant_code(&code).map_err(ApiError::invalid)?;
        validate::text("name", &body.name, 64).map_err(ApiError::invalid)?;
        let max_accounts = body.max_accounts.unwrap_or(DEFAULT_LIMIT);
        let max_online = body.max_online.unwrap_or(DEFAULT_LIMIT);
        validate::plan_limit("max_accounts", max_accounts).map_err(ApiError::invalid)?;
        validate::plan_limit("max_online", max_online).map_err(ApiError::invalid)?;
        let admin = body.admin;
        validate::username(admin.username.trim()).map_err(ApiError::invalid)?;
        validate::email(admin.email.trim()).map_err(ApiError::invalid)?;
        let display_name = admin.display_name.unwrap_or_else(|| admin.username.clone());
        validate::text("admin.display_name", &display_name, 32).map_err(ApiError::invalid)?;

        let password = kefu_domain::password::generate();
        let owner = NewAccount {
            username: admin.username.trim().to_string(),
            display_name: display_name.trim().to_string(),
            real_name: String::new(),
            phone: String::new(),
            email: admin.email.trim().to_string(),
            role: Role::SuperAdmin,
            password_hash: kefu_auth::password::hash(&password),
            must_change_password: true,
            skill_group_ids: vec![],
        };
        let tenant = NewTenant {
            code,
            name: body.name.trim().to_string(),
            max_accounts,
            max_online,
            im_secret: kefu_domain::secret::im_secret(),
        };
        let (tenant, owner) = state
            .store
            .create_tenant(tenant, owner, state.clock.now())
            .await?;
        state.policy_changed().await;
        let mailed =
            crate::accounts::mail_password(&state, &owner, &tenant.code, &password, false).await;
        state
            .logins
            .audit(
                None,
                Some(&auth.0.account),
                "tenant_create",
                &tenant.code,
                &format!("plan {max_accounts}/{max_online}"),
                &auth.0.ip,
            )
            .await;
        Ok(Created::Created(Json(CreatedTenant {
            tenant: tenant.into(),
            admin: owner.into(),
            initial_password: password,
            password_mailed: mailed,
        })))
    }

    /// List tenants
    ///
    /// Every tenant with its plan and seats in use.
    ///
    /// Errors: 403 `forbidden`.
    #[oai(path = "/tenants", method = "get", operation_id = "listTenants")]
    async fn list(
        &self,
        state: Data<&State>,
        auth: Auth,
    ) -> Result<Json<Vec<TenantDto>>, ApiError> {
        state
            .require(&auth.0, object::TENANTS, action::READ)
            .await?;
        let mut out = Vec::new();
        for t in state.store.list_tenants().await? {
            let used = state.store.seat_usage(t.id).await?.accounts;
            let mut dto = TenantDto::from(t);
            dto.accounts_used = Some(used);
            out.push(dto);
        }
        Ok(Json(out))
    }

    /// Get a tenant
    ///
    /// Errors: 403 `forbidden`; 404 `not_found`.
    #[oai(path = "/tenants/:id", method = "get", operation_id = "getTenant")]
    async fn get(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
    ) -> Result<Json<TenantDto>, ApiError> {
        state
            .require(&auth.0, object::TENANTS, action::READ)
            .await?;
        let t = state
            .store
            .get_tenant(TenantId(id.0))
            .await?
            .ok_or_else(|| ApiError::not_found("tenant"))?;
        let used = state.store.seat_usage(t.id).await?.accounts;
        let mut dto = TenantDto::from(t);
        dto.accounts_used = Some(used);
        Ok(Json(dto))
    }

    /// Edit a tenant
    ///
    /// Changes the name or the plan. Lowering `max_accounts` below the seats in use keeps
    /// the existing seats but refuses new ones until enough are deleted.
    ///
    /// Errors: 400 `validation_failed`; 403 `forbidden`; 404 `not_found`.
    #[oai(path = "/tenants/:id", method = "patch", operation_id = "updateTenant")]
    async fn update(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
        body: Json<UpdateTenantRequest>,
    ) -> Result<Json<TenantDto>, ApiError> {
        state
            .require(&auth.0, object::TENANTS, action::WRITE)
            .await?;
        if let Some(name) = &body.name {
            validate::text("name", name, 64).map_err(ApiError::invalid)?;
        }
        if let Some(v) = body.max_accounts {
            validate::plan_limit("max_accounts", v).map_err(ApiError::invalid)?;
        }
        if let Some(v) = body.max_online {
            validate::plan_limit("max_online", v).map_err(ApiError::invalid)?;
        }
        let patch = TenantPatch {
            name: body.name.as_ref().map(|n| n.trim().to_string()),
            max_accounts: body.max_accounts,
            max_online: body.max_online,
            disabled: None,
        };
        self.patch(&state, &auth, id.0, patch, "tenant_update")
            .await
    }

    /// Disable a tenant
    ///
    /// Its accounts are logged out at once and cannot log in until it is enabled again.
    ///
    /// Errors: 403 `forbidden`; 404 `not_found`.
    #[oai(
        path = "/tenants/:id/disable",
        method = "post",
        operation_id = "disableTenant"
    )]
    async fn disable(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
    ) -> Result<Json<TenantDto>, ApiError> {
        state
            .require(&auth.0, object::TENANTS, action::WRITE)
            .await?;
        let patch = TenantPatch {
            disabled: Some(true),
            ..Default::default()
        };
        self.patch(&state, &auth, id.0, patch, "tenant_disable")
            .await
    }

    /// Enable a tenant
    ///
    /// Errors: 403 `forbidden`; 404 `not_found`.
    #[oai(
        path = "/tenants/:id/enable",
        method = "post",
        operation_id = "enableTenant"
    )]
    async fn enable(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
    ) -> Result<Json<TenantDto>, ApiError> {
        state
            .require(&auth.0, object::TENANTS, action::WRITE)
            .await?;
        let patch = TenantPatch {
            disabled: Some(false),
            ..Default::default()
        };
        self.patch(&state, &auth, id.0, patch, "tenant_enable")
            .await
    }

    /// Platform audit log
    ///
    /// Operator logins and tenant changes, newest first.
    ///
    /// Errors: 403 `forbidden`.
    #[oai(path = "/audit", method = "get", operation_id = "platformAudit")]
    async fn audit(
        &self,
        state: Data<&State>,
        auth: Auth,
        before: Query<Option<i64>>,
        limit: Query<Option<i64>>,
    ) -> Result<Json<AuditPage>, ApiError> {
        state
            .require(&auth.0, object::PLATFORM_AUDIT, action::READ)
            .await?;
        let limit = limit.0.unwrap_or(50).clamp(1, 200);
        let entries = state.store.list_audit(None, before.0, limit).await?;
        Ok(Json(AuditPage::new(entries, limit)))
    }
}

impl PlatformApi {
    async fn patch(
        &self,
        state: &State,
        auth: &Auth,
        id: i64,
        patch: TenantPatch,
        what: &str,
    ) -> Result<Json<TenantDto>, ApiError> {
        let t = state
            .store
            .update_tenant(TenantId(id), patch, state.clock.now())
            .await
            .map_err(|e| match e {
                kefu_store::StoreError::NotFound => ApiError::not_found("tenant"),
                e => e.into(),
            })?;
        kefu_engine::cache::forget_tenant(&state.store, t.id);
        state
            .logins
            .audit(None, Some(&auth.0.account), what, &t.code, "", &auth.0.ip)
            .await;
        let used = state.store.seat_usage(t.id).await?.accounts;
        let mut dto = TenantDto::from(t);
        dto.accounts_used = Some(used);
        Ok(Json(dto))
    }
}
