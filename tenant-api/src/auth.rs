//! `/api/v1/auth`: log in, log out, heartbeat, change password, who am I.

use crate::dto::{AccountDto, TenantDto};
use crate::error::ApiError;
use crate::security::AuthAny;
use crate::{State, client_ip};
use kefu_auth::Origin;
use poem::Request;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

#[derive(Tags)]
enum Tag {
    /// Logins and passwords.
    Auth,
}

#[derive(Debug, Object)]
pub struct LoginRequest {
    /// The tenant code, e.g. `acme`. Omitted by platform operators.
    pub tenant: Option<String>,
    pub username: String,
    pub password: String,
}

#[derive(Debug, Object)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>`. Valid for 24 hours after its last use.
    pub token: String,
    pub account: AccountDto,
    /// When true, every route except change password, log out, heartbeat and `me` answers
    /// 403 `password_change_required` until the password is changed.
    pub must_change_password: bool,
}

#[derive(Debug, Object)]
pub struct ChangePasswordRequest {
    pub old_password: String,
    /// 8–20 characters with a digit, a letter and a special character; not the email.
    pub new_password: String,
}

#[derive(Debug, Object)]
pub struct Me {
    pub account: AccountDto,
    /// The caller's tenant; absent for operators.
    pub tenant: Option<TenantDto>,
}

#[derive(ApiResponse)]
enum Done {
    /// Done.
    #[oai(status = 204)]
    NoContent,
}

pub struct AuthApi;

#[OpenApi(prefix_path = "/api/v1/auth", tag = "Tag::Auth")]
impl AuthApi {
    /// Log in
    ///
    /// Opens a login and returns its token. One live login per account: while another login
    /// of the same account was used in the last 2 minutes, this answers 409
    /// `already_logged_in`. After 5 failures for an account (20 from one address) logins are
    /// refused for a minute with 429 `too_many_attempts`.
    ///
    /// Errors: 400 `bad_request`; 401 `invalid_credentials`; 403 `account_disabled`,
    /// `tenant_disabled`; 409 `already_logged_in`; 429 `too_many_attempts`.
    #[oai(path = "/login", method = "post", operation_id = "login")]
    async fn login(
        &self,
        state: Data<&State>,
        req: &Request,
        body: Json<LoginRequest>,
    ) -> Result<Json<LoginResponse>, ApiError> {
        let origin = Origin {
            ip: client_ip(req),
            user_agent: req
                .header("user-agent")
                .unwrap_or("")
                .chars()
                .take(256)
                .collect(),
        };
        let tenant = body
            .tenant
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let out = state
            .logins
            .login(tenant, body.username.trim(), &body.password, &origin)
            .await?;
        // Every login starts suspended: the agent goes online when ready. Their current
        // conversations stay theirs.
        if let Some(tenant) = out.account.tenant_id {
            state
                .engine()
                .set_status(tenant, out.account.id, kefu_store::AgentStatus::Suspended)
                .await?;
        }
        Ok(Json(LoginResponse {
            token: out.token,
            must_change_password: out.account.must_change_password,
            account: out.account.into(),
        }))
    }

    /// Log out
    ///
    /// Revokes the caller's token at once.
    ///
    /// Errors: 401 `unauthorized`.
    #[oai(path = "/logout", method = "post", operation_id = "logout")]
    async fn logout(&self, state: Data<&State>, auth: AuthAny) -> Result<Done, ApiError> {
        state.logins.logout(&auth.0).await?;
        Ok(Done::NoContent)
    }

    /// Heartbeat
    ///
    /// Keeps the login live while the console is open but idle. Consoles call it every 30 s;
    /// a login with neither requests nor heartbeats for 2 minutes stops blocking new logins.
    ///
    /// Errors: 401 `unauthorized`.
    #[oai(path = "/heartbeat", method = "post", operation_id = "heartbeat")]
    async fn heartbeat(&self, _auth: AuthAny) -> Done {
        Done::NoContent
    }

    /// Change password
    ///
    /// Errors: 400 `wrong_password`, `password_policy`; 401 `unauthorized`.
    #[oai(path = "/password", method = "post", operation_id = "changePassword")]
    async fn change_password(
        &self,
        state: Data<&State>,
        auth: AuthAny,
        body: Json<ChangePasswordRequest>,
    ) -> Result<Done, ApiError> {
        state
            .logins
            .change_password(&auth.0, &body.old_password, &body.new_password)
            .await?;
        Ok(Done::NoContent)
    }

    /// Who am I
    ///
    /// Errors: 401 `unauthorized`.
    #[oai(path = "/me", method = "get", operation_id = "me")]
    async fn me(&self, state: Data<&State>, auth: AuthAny) -> Result<Json<Me>, ApiError> {
        let tenant = match auth.0.tenant() {
            Some(t) => state.store.get_tenant(t).await?.map(Into::into),
            None => None,
        };
        Ok(Json(Me {
            account: auth.0.account.into(),
            tenant,
        }))
    }
}
