//! `/api/v1/im-app`: the tenant's IM app, through which IM clients and the tenant's own back
//! end reach its customer service.

use crate::State;
use crate::error::ApiError;
use crate::security::Auth;
use kefu_auth::authz::{action, object};
use kefu_domain::SkillGroupId;
use kefu_store::{ImApp, ServiceAccount};
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Tags};

#[derive(Tags)]
enum Tag {
    /// The tenant's IM app (Tencent-IM-compatible gateway).
    ImApp,
}

#[derive(Debug, Clone, Object)]
pub struct ServiceAccountDto {
    /// The IM identifier buyers write to, e.g. `@customer_service_account`.
    pub identifier: String,
    /// The skill group its conversations queue in; none means the tenant's default routing.
    pub skill_group_id: Option<i64>,
}

#[derive(Debug, Object)]
pub struct ImAppDto {
    pub sdk_app_id: i64,
    /// Identifiers that may call the `/v4` REST API with their UserSig.
    pub admin_identifiers: Vec<String>,
    pub service_accounts: Vec<ServiceAccountDto>,
    /// The key UserSigs are signed with. Shown to super admins only.
    #[oai(skip_serializing_if_is_none)]
    pub secret_key: Option<String>,
    /// Where callbacks are posted; empty means none are sent.
    pub callback_url: String,
    /// Whether callbacks are signed (`Sign` and `RequestTime`).
    pub has_callback_token: bool,
    /// The signing token. Shown to super admins only.
    #[oai(skip_serializing_if_is_none)]
    pub callback_token: Option<String>,
    pub updated_at: i64,
}

/// One callback in the delivery log.
#[derive(Debug, Object)]
pub struct CallbackDto {
    pub id: i64,
    /// e.g. `C2C.CallbackAfterSendMsg`, `C2C.CallbackAfterMsgWithDraw`, `State.StateChange`.
    pub command: String,
    /// `pending`, `done` or `failed`.
    pub status: String,
    pub attempts: i64,
    /// Why the last attempt failed, if it did.
    pub last_error: String,
    /// The JSON body that is (or was) posted.
    pub body: String,
    pub next_attempt_at: i64,
    pub created_at: i64,
}

#[derive(Debug, Object)]
pub struct UpdateImAppRequest {
    pub admin_identifiers: Option<Vec<String>>,
    pub service_accounts: Option<Vec<ServiceAccountDto>>,
    /// `https://…` or `http://…`; an empty string turns callbacks off.
    pub callback_url: Option<String>,
    /// Up to 64 characters; an empty string turns signing off.
    pub callback_token: Option<String>,
}

#[derive(Debug, Object)]
pub struct TestCallbackRequest {
    /// The URL to try; absent: the saved one. Lets the form be tried before saving.
    pub callback_url: Option<String>,
    /// The token to sign with; absent: the saved one; empty: unsigned.
    pub callback_token: Option<String>,
}

/// What the tenant's server made of the test callback.
#[derive(Debug, Object)]
pub struct TestCallbackResult {
    /// The server answered HTTP 200 with JSON within 2 s.
    pub ok: bool,
    /// Milliseconds until the answer (or the failure).
    pub elapsed_ms: i64,
    /// The answer's `ActionStatus` and `ErrorCode`, when it had them.
    pub action_status: Option<String>,
    pub error_code: Option<i64>,
    /// Why it failed, for people: unreachable, timed out, an HTTP status, not JSON.
    pub error: Option<String>,
    /// The command sent: `Kefu.CallbackTest`.
    pub command: String,
    /// Whether it carried `Sign` and `RequestTime`.
    pub signed: bool,
}

/// The command of a test callback: one no real event uses, so the tenant's server can tell.
pub const TEST_COMMAND: &str = "Kefu.CallbackTest";

/// Checks a callback URL the way the app keeps it.
fn check_callback_url(url: &str) -> Result<(), ApiError> {
    let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
    if !url.is_empty() && (!scheme_ok || url.len() > 512 || url.chars().any(char::is_whitespace)) {
        return Err(ApiError::invalid(kefu_domain::validate::Invalid::new(
            "callback_url",
            "use an http:// or https:// URL of at most 512 characters, or \"\" to turn callbacks off",
        )));
    }
    Ok(())
}

fn dto(app: ImApp, with_secret: bool) -> ImAppDto {
    ImAppDto {
        sdk_app_id: app.sdk_app_id,
        admin_identifiers: app.admin_identifiers,
        service_accounts: app
            .service_accounts
            .into_iter()
            .map(|a| ServiceAccountDto {
                identifier: a.identifier,
                skill_group_id: a.skill_group_id.map(|g| g.0),
            })
            .collect(),
        secret_key: with_secret.then_some(app.secret_key),
        has_callback_token: !app.callback_token.is_empty(),
        callback_token: with_secret.then_some(app.callback_token),
        callback_url: app.callback_url,
        updated_at: app.updated_at,
    }
}

/// An IM identifier: 1–32 bytes, no control characters or spaces.
fn check_identifier(field: &'static str, id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > 32 || id.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(ApiError::invalid(kefu_domain::validate::Invalid::new(
            field,
            format!("`{id}` is not an IM identifier: use 1 to 32 bytes without spaces"),
        )));
    }
    Ok(())
}

pub struct ImAppApi;

#[OpenApi(prefix_path = "/api/v1/im-app", tag = "Tag::ImApp")]
impl ImAppApi {
    /// Get the IM app
    ///
    /// The SDKAppID, admin identifiers and customer-service accounts; the secret key too for
    /// super admins.
    ///
    /// Errors: 403 `forbidden`.
    #[oai(path = "/", method = "get", operation_id = "getImApp")]
    async fn get(&self, state: Data<&State>, auth: Auth) -> Result<Json<ImAppDto>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::IM_APP, action::READ)
            .await?;
        let app = state
            .store
            .get_im_app(tenant)
            .await?
            .ok_or_else(|| ApiError::not_found("IM app"))?;
        let with_secret = state
            .authz
            .allows(&auth.0.account, object::IM_SECRET, action::READ)
            .await;
        Ok(Json(dto(app, with_secret)))
    }

    /// Edit the IM app
    ///
    /// Replaces the admin identifiers and/or the customer-service accounts. At least one
    /// admin identifier and one service account must remain.
    ///
    /// Errors: 400 `validation_failed`, `unknown_skill_group`; 403 `forbidden`.
    #[oai(path = "/", method = "patch", operation_id = "updateImApp")]
    async fn update(
        &self,
        state: Data<&State>,
        auth: Auth,
        body: Json<UpdateImAppRequest>,
    ) -> Result<Json<ImAppDto>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::IM_APP, action::WRITE)
            .await?;
        let body = body.0;
        if let Some(admins) = &body.admin_identifiers {
            if admins.is_empty() {
                return Err(ApiError::invalid(kefu_domain::validate::Invalid::new(
                    "admin_identifiers",
                    "keep at least one admin identifier, or the REST API cannot be called",
                )));
            }
            for id in admins {
                check_identifier("admin_identifiers", id)?;
            }
        }
        if let Some(accounts) = &body.service_accounts {
            if accounts.is_empty() {
                return Err(ApiError::invalid(kefu_domain::validate::Invalid::new(
                    "service_accounts",
                    "keep at least one customer-service account for buyers to write to",
                )));
            }
            for a in accounts {
                check_identifier("service_accounts", &a.identifier)?;
            }
        }
        let url = body.callback_url.as_ref().map(|u| u.trim().to_string());
        if let Some(url) = &url {
            check_callback_url(url)?;
        }
        if body.callback_token.as_ref().is_some_and(|t| t.len() > 64) {
            return Err(ApiError::invalid(kefu_domain::validate::Invalid::new(
                "callback_token",
                "use at most 64 characters",
            )));
        }
        if url.is_some() || body.callback_token.is_some() {
            let current = state
                .store
                .get_im_app(tenant)
                .await?
                .ok_or_else(|| ApiError::not_found("IM app"))?;
            let url = url.clone().unwrap_or(current.callback_url);
            let token = body
                .callback_token
                .clone()
                .unwrap_or(current.callback_token);
            state
                .store
                .set_im_callback(tenant, &url, &token, state.clock.now())
                .await?;
            kefu_engine::cache::forget_im_app(&state.store, tenant);
        }
        let accounts = body.service_accounts.map(|list| {
            list.into_iter()
                .map(|a| ServiceAccount {
                    identifier: a.identifier,
                    skill_group_id: a.skill_group_id.map(SkillGroupId),
                })
                .collect()
        });
        let app = state
            .store
            .update_im_app(tenant, body.admin_identifiers, accounts, state.clock.now())
            .await?;
        kefu_engine::cache::forget_im_app(&state.store, tenant);
        state
            .logins
            .audit(
                Some(tenant),
                Some(&auth.0.account),
                "im_app_update",
                "",
                "",
                &auth.0.ip,
            )
            .await;
        let with_secret = state
            .authz
            .allows(&auth.0.account, object::IM_SECRET, action::READ)
            .await;
        Ok(Json(dto(app, with_secret)))
    }

    /// Send a test callback
    ///
    /// Posts `Kefu.CallbackTest` (`{"CallbackCommand": "Kefu.CallbackTest", "EventTime": ms,
    /// "SdkAppid": n}`) to the saved callback URL, or to `callback_url` when given, signed
    /// as real callbacks are, and says what came back. Nothing is queued or retried.
    ///
    /// Errors: 400 `validation_failed` (no URL to try); 403 `forbidden`.
    #[oai(
        path = "/test-callback",
        method = "post",
        operation_id = "testImCallback"
    )]
    async fn test_callback(
        &self,
        state: Data<&State>,
        auth: Auth,
        body: Json<TestCallbackRequest>,
    ) -> Result<Json<TestCallbackResult>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::IM_APP, action::WRITE)
            .await?;
        let mut app = state
            .store
            .get_im_app(tenant)
            .await?
            .ok_or_else(|| ApiError::not_found("IM app"))?;
        if let Some(url) = &body.0.callback_url {
            app.callback_url = url.trim().to_string();
        }
        if let Some(token) = &body.0.callback_token {
            app.callback_token = token.clone();
        }
        check_callback_url(&app.callback_url)?;
        if app.callback_url.is_empty() {
            return Err(ApiError::invalid(kefu_domain::validate::Invalid::new(
                "callback_url",
                "set a callback URL first (or send one with the test)",
            )));
        }
        let now = state.clock.now();
        let url = kefu_callback::url(&app, TEST_COMMAND, "", "RESTAPI", now / 1000);
        let body = serde_json::json!({
            "CallbackCommand": TEST_COMMAND,
            "EventTime": now,
            "SdkAppid": app.sdk_app_id,
        })
        .to_string();
        let started = std::time::Instant::now();
        let answer = kefu_callback::post(&kefu_callback::http_client(), &url, &body).await;
        let elapsed_ms = started.elapsed().as_millis() as i64;
        state
            .audit(&auth.0, "im_callback_test", &app.callback_url, "")
            .await;
        let (answer, error) = match answer {
            Ok(v) => (Some(v), None),
            Err(e) => (None, Some(e)),
        };
        Ok(Json(TestCallbackResult {
            ok: answer.is_some(),
            elapsed_ms,
            action_status: answer
                .as_ref()
                .and_then(|v| v["ActionStatus"].as_str().map(str::to_string)),
            error_code: answer.as_ref().and_then(|v| v["ErrorCode"].as_i64()),
            error,
            command: TEST_COMMAND.into(),
            signed: !app.callback_token.is_empty(),
        }))
    }

    /// Callback delivery log
    ///
    /// After-event callbacks, newest first; `status=failed` lists the ones that gave up after
    /// 10 attempts, with the last error.
    ///
    /// Errors: 403 `forbidden`.
    #[oai(path = "/callbacks", method = "get", operation_id = "listImCallbacks")]
    async fn callbacks(
        &self,
        state: Data<&State>,
        auth: Auth,
        status: poem_openapi::param::Query<Option<String>>,
        limit: poem_openapi::param::Query<Option<i64>>,
    ) -> Result<Json<Vec<CallbackDto>>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::IM_APP, action::READ)
            .await?;
        let status = status.0.filter(|s| !s.is_empty());
        if let Some(s) = &status
            && !["pending", "done", "failed"].contains(&s.as_str())
        {
            return Err(ApiError::invalid(kefu_domain::validate::Invalid::new(
                "status",
                "use pending, done or failed",
            )));
        }
        let limit = limit.0.unwrap_or(50).clamp(1, 200);
        let entries = state
            .store
            .list_callbacks(tenant, status.as_deref(), limit)
            .await?;
        Ok(Json(
            entries
                .into_iter()
                .map(|e| CallbackDto {
                    id: e.id,
                    command: e.command,
                    status: e.status,
                    attempts: e.attempts,
                    last_error: e.last_error,
                    body: e.body,
                    next_attempt_at: e.next_attempt_at,
                    created_at: e.created_at,
                })
                .collect(),
        ))
    }

    /// Rotate the secret key
    ///
    /// Sets a new random secret. UserSigs signed with the old key stop working at once;
    /// the answer carries the new key. Super admins only.
    ///
    /// Errors: 403 `forbidden`.
    #[oai(
        path = "/rotate-secret",
        method = "post",
        operation_id = "rotateImSecret"
    )]
    async fn rotate(&self, state: Data<&State>, auth: Auth) -> Result<Json<ImAppDto>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::IM_SECRET, action::WRITE)
            .await?;
        state
            .store
            .rotate_im_secret(tenant, &kefu_domain::secret::im_secret(), state.clock.now())
            .await?;
        kefu_engine::cache::forget_im_app(&state.store, tenant);
        state
            .logins
            .audit(
                Some(tenant),
                Some(&auth.0.account),
                "im_secret_rotate",
                "",
                "",
                &auth.0.ip,
            )
            .await;
        let app = state
            .store
            .get_im_app(tenant)
            .await?
            .ok_or_else(|| ApiError::not_found("IM app"))?;
        Ok(Json(dto(app, true)))
    }
}
