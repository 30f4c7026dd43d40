//! `/api/v1/accounts`, `/plan`, `/logins`, `/audit`, `/skill-groups`: a tenant's seats and
//! who is logged in, for tenant admins.

use crate::State;
use crate::dto::*;
use crate::error::{ApiError, ErrorCode};
use crate::import;
use crate::security::Auth;
use kefu_auth::Principal;
use kefu_auth::authz::{action, object};
use kefu_domain::{AccountId, Role, SkillGroupId, TenantId, validate};
use kefu_mail::Mail;
use kefu_store::{Account, AccountFilter, AccountPatch, NewAccount};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

#[derive(Tags)]
enum Tag {
    /// Seats (坐席账号) and logins, for tenant admins.
    Accounts,
}

#[derive(Debug, Clone, Object)]
pub struct CreateAccountRequest {
    pub username: String,
    pub display_name: String,
    #[oai(default)]
    pub real_name: String,
    #[oai(default)]
    pub phone: String,
    /// Where the initial password is mailed, if given.
    #[oai(default)]
    pub email: String,
    /// Admins may create agents; super admins may also create admins and super admins.
    pub role: ApiRole,
    #[oai(default)]
    pub skill_group_ids: Vec<i64>,
}

#[derive(Debug, Object)]
pub struct CreatedAccount {
    pub account: AccountDto,
    /// The initial password, shown this once. It must be changed at first login.
    pub initial_password: String,
    pub password_mailed: bool,
}

#[derive(Debug, Object)]
pub struct UpdateAccountRequest {
    pub display_name: Option<String>,
    pub real_name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub role: Option<ApiRole>,
    pub skill_group_ids: Option<Vec<i64>>,
}

#[derive(Debug, Object)]
pub struct PasswordReset {
    /// The new password, shown this once. It must be changed at the next login.
    pub initial_password: String,
    pub password_mailed: bool,
}

#[derive(Debug, Object)]
pub struct KickResult {
    /// How many logins were ended (0 when the account was not logged in).
    pub sessions_ended: i64,
}

#[derive(ApiResponse)]
enum CreatedAccountResponse {
    #[oai(status = 201)]
    Created(Json<CreatedAccount>),
}

#[derive(ApiResponse)]
enum Deleted {
    #[oai(status = 204)]
    NoContent,
}

#[derive(ApiResponse)]
pub enum XlsxFile {
    /// An Excel workbook.
    #[oai(
        status = 200,
        content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )]
    Ok(
        Binary<Vec<u8>>,
        #[oai(header = "Content-Disposition")] String,
    ),
}

pub struct AccountsApi;

#[OpenApi(prefix_path = "/api/v1")]
impl AccountsApi {
    /// List seats
    ///
    /// Filters narrow the list: `q` matches username, display name, real name or phone.
    ///
    /// Errors: 403 `forbidden`.
    #[oai(
        path = "/accounts",
        method = "get",
        operation_id = "listAccounts",
        tag = "Tag::Accounts"
    )]
    async fn list(
        &self,
        state: Data<&State>,
        auth: Auth,
        q: Query<Option<String>>,
        role: Query<Option<ApiRole>>,
        skill_group: Query<Option<i64>>,
        disabled: Query<Option<bool>>,
    ) -> Result<Json<Vec<AccountDto>>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::ACCOUNTS, action::READ)
            .await?;
        let filter = AccountFilter {
            text: q.0.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()),
            role: role.0.map(Into::into),
            skill_group: skill_group.0.map(SkillGroupId),
            disabled: disabled.0,
        };
        let accounts = state.store.list_accounts(tenant, &filter).await?;
        Ok(Json(accounts.into_iter().map(Into::into).collect()))
    }

    /// Create a seat
    ///
    /// The initial password is random, returned once, and mailed when an email is given.
    /// Refused with 409 `seat_limit_reached` when the plan's seats are all in use; nothing
    /// is created then.
    ///
    /// Errors: 400 `validation_failed`, `unknown_skill_group`; 403 `forbidden`;
    /// 409 `seat_limit_reached`, `duplicate`.
    #[oai(
        path = "/accounts",
        method = "post",
        operation_id = "createAccount",
        tag = "Tag::Accounts"
    )]
    async fn create(
        &self,
        state: Data<&State>,
        auth: Auth,
        body: Json<CreateAccountRequest>,
    ) -> Result<CreatedAccountResponse, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::ACCOUNTS, action::WRITE)
            .await?;
        let created = create_account(&state, &auth.0, tenant, body.0).await?;
        state.policy_changed().await;
        Ok(CreatedAccountResponse::Created(Json(created)))
    }

    /// Seat template (.xlsx)
    ///
    /// The workbook to fill in for a bulk import.
    ///
    /// Errors: 403 `forbidden`.
    #[oai(
        path = "/accounts/import-template",
        method = "get",
        operation_id = "accountImportTemplate",
        tag = "Tag::Accounts"
    )]
    async fn template(&self, state: Data<&State>, auth: Auth) -> Result<XlsxFile, ApiError> {
        state
            .require_tenant(&auth.0, object::ACCOUNTS, action::WRITE)
            .await?;
        let bytes = import::template().map_err(ApiError::internal)?;
        Ok(XlsxFile::Ok(
            Binary(bytes),
            "attachment; filename=\"kefu-accounts.xlsx\"".into(),
        ))
    }

    /// Bulk import seats
    ///
    /// Upload the filled-in template as the request body. Each row is created on its own:
    /// a bad row is reported and does not stop the good ones, and the seat cap still holds.
    ///
    /// Errors: 400 `bad_request` when the file is not the template; 403 `forbidden`;
    /// 413 `payload_too_large` above 2 MB or 1000 rows.
    #[oai(
        path = "/accounts/import",
        method = "post",
        operation_id = "importAccounts",
        tag = "Tag::Accounts"
    )]
    async fn import(
        &self,
        state: Data<&State>,
        auth: Auth,
        body: Binary<Vec<u8>>,
    ) -> Result<Json<import::ImportReport>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::ACCOUNTS, action::WRITE)
            .await?;
        let report = import::run(&state, &auth.0, tenant, &body.0).await?;
        state.policy_changed().await;
        Ok(Json(report))
    }

    /// Get a seat
    ///
    /// Errors: 403 `forbidden`; 404 `not_found`.
    #[oai(
        path = "/accounts/:id",
        method = "get",
        operation_id = "getAccount",
        tag = "Tag::Accounts"
    )]
    async fn get(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
    ) -> Result<Json<AccountDto>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::ACCOUNTS, action::READ)
            .await?;
        Ok(Json(find(&state, tenant, id.0).await?.into()))
    }

    /// Edit a seat
    ///
    /// Errors: 400 `validation_failed`, `unknown_skill_group`; 403 `forbidden`,
    /// `owner_protected`; 404 `not_found`.
    #[oai(
        path = "/accounts/:id",
        method = "patch",
        operation_id = "updateAccount",
        tag = "Tag::Accounts"
    )]
    async fn update(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
        body: Json<UpdateAccountRequest>,
    ) -> Result<Json<AccountDto>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::ACCOUNTS, action::WRITE)
            .await?;
        let target = find(&state, tenant, id.0).await?;
        may_manage(&auth.0, &target)?;
        let body = body.0;
        if let Some(v) = &body.display_name {
            validate::text("display_name", v, 32).map_err(ApiError::invalid)?;
        }
        if let Some(v) = &body.real_name {
            validate::optional_text("real_name", v, 32).map_err(ApiError::invalid)?;
        }
        if let Some(v) = &body.phone {
            validate::phone(v).map_err(ApiError::invalid)?;
        }
        if let Some(v) = &body.email {
            validate::email(v.trim()).map_err(ApiError::invalid)?;
        }
        let role: Option<Role> = body.role.map(Into::into);
        if let Some(role) = role {
            if target.is_owner && role != Role::SuperAdmin {
                return Err(ApiError::new(
                    ErrorCode::OwnerProtected,
                    "the tenant's owner stays a super admin",
                ));
            }
            check_assignable(&auth.0, role)?;
        }
        let patch = AccountPatch {
            display_name: body.display_name.map(|s| s.trim().to_string()),
            real_name: body.real_name.map(|s| s.trim().to_string()),
            phone: body.phone.map(|s| s.trim().to_string()),
            email: body.email.map(|s| s.trim().to_string()),
            role,
            disabled: None,
            skill_group_ids: body
                .skill_group_ids
                .map(|ids| ids.into_iter().map(SkillGroupId).collect()),
        };
        let updated = state
            .store
            .update_account(tenant, target.id, patch, state.clock.now())
            .await?;
        if role.is_some_and(|r| r != target.role) {
            state.policy_changed().await;
        }
        audit(&state, &auth.0, "account_update", &updated.username, "").await;
        Ok(Json(updated.into()))
    }

    /// Delete a seat
    ///
    /// Frees the seat. The account's logins end at once.
    ///
    /// Errors: 403 `forbidden`, `owner_protected`; 404 `not_found`.
    #[oai(
        path = "/accounts/:id",
        method = "delete",
        operation_id = "deleteAccount",
        tag = "Tag::Accounts"
    )]
    async fn delete(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
    ) -> Result<Deleted, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::ACCOUNTS, action::WRITE)
            .await?;
        let target = find(&state, tenant, id.0).await?;
        protect(&auth.0, &target, "deleted")?;
        // End logins first so that open connections hear why they close.
        state.logins.end_all(tenant, target.id, "deleted").await?;
        state.store.delete_account(tenant, target.id).await?;
        state.policy_changed().await;
        audit(&state, &auth.0, "account_delete", &target.username, "").await;
        Ok(Deleted::NoContent)
    }

    /// Disable a seat
    ///
    /// The account's logins end at once and it cannot log in until enabled. It still uses
    /// a seat.
    ///
    /// Errors: 403 `forbidden`, `owner_protected`; 404 `not_found`.
    #[oai(
        path = "/accounts/:id/disable",
        method = "post",
        operation_id = "disableAccount",
        tag = "Tag::Accounts"
    )]
    async fn disable(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
    ) -> Result<Json<AccountDto>, ApiError> {
        self.set_disabled(&state, &auth, id.0, true).await
    }

    /// Enable a seat
    ///
    /// Errors: 403 `forbidden`; 404 `not_found`.
    #[oai(
        path = "/accounts/:id/enable",
        method = "post",
        operation_id = "enableAccount",
        tag = "Tag::Accounts"
    )]
    async fn enable(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
    ) -> Result<Json<AccountDto>, ApiError> {
        self.set_disabled(&state, &auth, id.0, false).await
    }

    /// Reset a seat's password
    ///
    /// Sets a new random password, returned once and mailed when the seat has an email.
    /// The seat's logins end and it must change the password at the next login.
    ///
    /// Errors: 403 `forbidden`; 404 `not_found`.
    #[oai(
        path = "/accounts/:id/reset-password",
        method = "post",
        operation_id = "resetAccountPassword",
        tag = "Tag::Accounts"
    )]
    async fn reset_password(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
    ) -> Result<Json<PasswordReset>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::ACCOUNTS, action::WRITE)
            .await?;
        let target = find(&state, tenant, id.0).await?;
        may_manage(&auth.0, &target)?;
        let password = kefu_domain::password::generate();
        let hash = kefu_auth::password::hash(&password);
        state
            .store
            .set_password(Some(tenant), target.id, &hash, true, state.clock.now())
            .await?;
        state
            .logins
            .end_all(tenant, target.id, "password_reset")
            .await?;
        let code = tenant_code(&state, tenant).await?;
        let mailed = mail_password(&state, &target, &code, &password, true).await;
        audit(&state, &auth.0, "password_reset", &target.username, "").await;
        Ok(Json(PasswordReset {
            initial_password: password,
            password_mailed: mailed,
        }))
    }

    /// Kick a login (剔除登录)
    ///
    /// Ends the account's login at once and closes its realtime connections with the
    /// reason "kicked". The account can log in again straight away.
    ///
    /// Errors: 403 `forbidden`; 404 `not_found`.
    #[oai(
        path = "/accounts/:id/kick",
        method = "post",
        operation_id = "kickAccount",
        tag = "Tag::Accounts"
    )]
    async fn kick(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
    ) -> Result<Json<KickResult>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::LOGINS, action::WRITE)
            .await?;
        let target = find(&state, tenant, id.0).await?;
        if target.id != auth.0.account.id {
            may_manage(&auth.0, &target)?;
        }
        let n = state.logins.kick(&auth.0, tenant, &target).await?;
        Ok(Json(KickResult {
            sessions_ended: n as i64,
        }))
    }

    /// Live logins
    ///
    /// Accounts of this tenant with a login used in the last 2 minutes.
    ///
    /// Errors: 403 `forbidden`.
    #[oai(
        path = "/logins",
        method = "get",
        operation_id = "listLogins",
        tag = "Tag::Accounts"
    )]
    async fn logins(
        &self,
        state: Data<&State>,
        auth: Auth,
    ) -> Result<Json<Vec<LiveLoginDto>>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::LOGINS, action::READ)
            .await?;
        let since = state.clock.now() - state.logins.settings().live_for;
        let live = state.store.list_live_sessions(tenant, since).await?;
        Ok(Json(live.into_iter().map(Into::into).collect()))
    }

    /// Plan usage
    ///
    /// Seats in use against the plan, e.g. 2 of 2.
    ///
    /// Errors: 403 `forbidden`.
    #[oai(
        path = "/plan",
        method = "get",
        operation_id = "planUsage",
        tag = "Tag::Accounts"
    )]
    async fn plan(&self, state: Data<&State>, auth: Auth) -> Result<Json<PlanUsage>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::ACCOUNTS, action::READ)
            .await?;
        let online = state
            .store
            .agent_states(tenant)
            .await?
            .iter()
            .filter(|a| a.status == kefu_store::AgentStatus::Online)
            .count() as i64;
        Ok(Json(PlanUsage::new(
            state.store.seat_usage(tenant).await?,
            online,
        )))
    }

    /// Audit log
    ///
    /// Logins, failed logins, logouts, kicks, password changes and seat changes in this
    /// tenant, newest first.
    ///
    /// Errors: 403 `forbidden`.
    #[oai(
        path = "/audit",
        method = "get",
        operation_id = "listAudit",
        tag = "Tag::Accounts"
    )]
    async fn audit(
        &self,
        state: Data<&State>,
        auth: Auth,
        before: Query<Option<i64>>,
        limit: Query<Option<i64>>,
    ) -> Result<Json<AuditPage>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::AUDIT, action::READ)
            .await?;
        let limit = limit.0.unwrap_or(50).clamp(1, 200);
        Ok(Json(AuditPage::new(
            state
                .store
                .list_audit(Some(tenant), before.0, limit)
                .await?,
            limit,
        )))
    }
}

impl AccountsApi {
    async fn set_disabled(
        &self,
        state: &State,
        auth: &Auth,
        id: i64,
        disabled: bool,
    ) -> Result<Json<AccountDto>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::ACCOUNTS, action::WRITE)
            .await?;
        let target = find(state, tenant, id).await?;
        if disabled {
            protect(&auth.0, &target, "disabled")?;
        } else {
            may_manage(&auth.0, &target)?;
        }
        let patch = AccountPatch {
            disabled: Some(disabled),
            ..Default::default()
        };
        let updated = state
            .store
            .update_account(tenant, target.id, patch, state.clock.now())
            .await?;
        let what = if disabled {
            "account_disable"
        } else {
            "account_enable"
        };
        audit(state, &auth.0, what, &updated.username, "").await;
        Ok(Json(updated.into()))
    }
}

/// Validates and creates one seat; shared by the create route and the bulk import.
pub(crate) async fn create_account(
    state: &State,
    who: &Principal,
    tenant: TenantId,
    req: CreateAccountRequest,
) -> Result<CreatedAccount, ApiError> {
    let username = req.username.trim().to_string();
    validate::username(&username).map_err(ApiError::invalid)?;
    validate::text("display_name", &req.display_name, 32).map_err(ApiError::invalid)?;
    validate::optional_text("real_name", &req.real_name, 32).map_err(ApiError::invalid)?;
    validate::phone(req.phone.trim()).map_err(ApiError::invalid)?;
    validate::email(req.email.trim()).map_err(ApiError::invalid)?;
    let role: Role = req.role.into();
    check_assignable(who, role)?;
    let password = kefu_domain::password::generate();
    let new = NewAccount {
        username,
        display_name: req.display_name.trim().to_string(),
        real_name: req.real_name.trim().to_string(),
        phone: req.phone.trim().to_string(),
        email: req.email.trim().to_string(),
        role,
        password_hash: kefu_auth::password::hash(&password),
        must_change_password: true,
        skill_group_ids: req.skill_group_ids.into_iter().map(SkillGroupId).collect(),
    };
    let account = state
        .store
        .create_account(tenant, new, state.clock.now())
        .await?;
    let code = tenant_code(state, tenant).await?;
    let mailed = mail_password(state, &account, &code, &password, false).await;
    audit(
        state,
        who,
        "account_create",
        &account.username,
        account.role.as_str(),
    )
    .await;
    Ok(CreatedAccount {
        account: account.into(),
        initial_password: password,
        password_mailed: mailed,
    })
}

async fn find(state: &State, tenant: TenantId, id: i64) -> Result<Account, ApiError> {
    state
        .store
        .get_account(tenant, AccountId(id))
        .await?
        .ok_or_else(|| ApiError::not_found("account"))
}

async fn tenant_code(state: &State, tenant: TenantId) -> Result<String, ApiError> {
    Ok(state
        .store
        .get_tenant(tenant)
        .await?
        .map(|t| t.code)
        .unwrap_or_default())
}

fn check_assignable(who: &Principal, role: Role) -> Result<(), ApiError> {
    if who.account.role.may_manage(role) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "a {} cannot create or assign the role {role}; ask a super admin",
            who.account.role
        )))
    }
}

fn may_manage(who: &Principal, target: &Account) -> Result<(), ApiError> {
    if who.account.role.may_manage(target.role) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "a {} cannot change a {}; ask a super admin",
            who.account.role, target.role
        )))
    }
}

/// Checks that `target` may be deleted or disabled by `who`.
fn protect(who: &Principal, target: &Account, verb: &str) -> Result<(), ApiError> {
    if target.is_owner {
        return Err(ApiError::new(
            ErrorCode::OwnerProtected,
            format!("the tenant's owner cannot be {verb}"),
        ));
    }
    if target.id == who.account.id {
        return Err(ApiError::forbidden(format!(
            "your own account cannot be {verb} by you; ask another admin"
        )));
    }
    may_manage(who, target)
}

async fn audit(state: &State, who: &Principal, action: &str, target: &str, detail: &str) {
    state.audit(who, action, target, detail).await;
}

/// Mails a new password to the account's email, if it has one. Returns whether it was sent;
/// a mail failure is logged and never undoes the account.
pub(crate) async fn mail_password(
    state: &State,
    account: &Account,
    tenant_code: &str,
    password: &str,
    reset: bool,
) -> bool {
    if account.email.is_empty() {
        return false;
    }
    let subject = if reset {
        "Kefu 客服账号密码已重置 / password reset"
    } else {
        "Kefu 客服账号已开通 / your account"
    };
    let body = format!(
        "您好 {name}，\n\n租户 (tenant): {tenant_code}\n用户名 (username): {user}\n初始密码 (password): {password}\n\n\
         首次登录后请立即修改密码。\nPlease change this password when you first log in.\n",
        name = account.display_name,
        user = account.username,
    );
    let mail = Mail {
        to: account.email.clone(),
        subject: subject.into(),
        body,
    };
    match state.mailer.send(&mail).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, account = account.id.0, "mailing the password failed");
            false
        }
    }
}
