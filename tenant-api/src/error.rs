//! The one place where failures become HTTP answers: `{ "code": "…", "message": "…" }` with a
//! stable snake_case code. Internal errors are logged with their cause and answered with a
//! generic message.

use kefu_auth::LoginError;
use kefu_store::StoreError;
use poem::IntoResponse;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object};

/// Every error code the API answers with. Clients may rely on these; they never change
/// meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request could not be read: bad JSON, a missing field, a wrong type.
    BadRequest,
    /// A field was read but its value is not acceptable; the message names the field.
    ValidationFailed,
    /// No bearer token, or one that is unknown, expired, revoked or kicked.
    Unauthorized,
    InvalidCredentials,
    /// The account must change its initial password (`POST /api/v1/auth/password`) first.
    PasswordChangeRequired,
    Forbidden,
    NotFound,
    /// The tenant's plan allows no more seats.
    SeatLimitReached,
    /// The account has a live login elsewhere.
    AlreadyLoggedIn,
    TooManyAttempts,
    AccountDisabled,
    TenantDisabled,
    /// A tenant code, username or name that must be unique is taken.
    Duplicate,
    /// The new password does not meet the password rules.
    PasswordPolicy,
    WrongPassword,
    UnknownSkillGroup,
    /// The tenant's owner cannot be deleted, disabled or demoted.
    OwnerProtected,
    PayloadTooLarge,
    /// The plan's agents-online limit is reached; someone must go offline first.
    OnlineLimitReached,
    /// The record changed state first (already ended, taken by another agent…); refresh it.
    StateConflict,
    /// The record is still used (a group with members, a tag on messages); the message says
    /// by what, and what to do first.
    InUse,
    /// The message holds a word on the tenant's block list; the message names it.
    BlockedWord,
    /// The tenant has no order provider.
    OrderProviderMissing,
    /// The order provider timed out, could not be reached or answered badly; retry.
    OrderProviderFailed,
    Internal,
    /// A dependency (database, bus) is not answering.
    Unavailable,
}

#[derive(Debug, Clone, Object)]
pub struct ErrorBody {
    pub code: ErrorCode,
    /// What went wrong and what to do about it, for people.
    pub message: String,
}

#[derive(Debug, ApiResponse)]
#[oai(bad_request_handler = "from_parse_error")]
pub enum ApiError {
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    #[oai(status = 429)]
    TooManyRequests(Json<ErrorBody>),
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    #[oai(status = 502)]
    BadGateway(Json<ErrorBody>),
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

fn body(code: ErrorCode, message: impl Into<String>) -> Json<ErrorBody> {
    Json(ErrorBody {
        code,
        message: message.into(),
    })
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        use ErrorCode::*;
        let b = body(code, message);
        match code {
            BadRequest | ValidationFailed | PasswordPolicy | WrongPassword | UnknownSkillGroup
            | BlockedWord => Self::BadRequest(b),
            Unauthorized | InvalidCredentials => Self::Unauthorized(b),
            PasswordChangeRequired
            | Forbidden
            | AccountDisabled
            | TenantDisabled
            | OwnerProtected => Self::Forbidden(b),
            NotFound | OrderProviderMissing => Self::NotFound(b),
            OrderProviderFailed => Self::BadGateway(b),
            SeatLimitReached | AlreadyLoggedIn | Duplicate | OnlineLimitReached | StateConflict
            | InUse => Self::Conflict(b),
            PayloadTooLarge => Self::PayloadTooLarge(b),
            TooManyAttempts => Self::TooManyRequests(b),
            Internal => Self::Internal(b),
            Unavailable => Self::Unavailable(b),
        }
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    pub fn invalid(e: kefu_domain::validate::Invalid) -> Self {
        Self::new(ErrorCode::ValidationFailed, e.to_string())
    }

    /// Logs `cause` and answers with nothing of it.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            ErrorCode::Internal,
            "something went wrong on our side; it has been logged, please try again",
        )
    }

    /// As a poem error, for places that must return one (security checkers).
    pub fn into_poem(self) -> poem::Error {
        poem::Error::from_response(self.into_response())
    }

    pub fn code(&self) -> ErrorCode {
        self.body().code
    }

    pub fn body(&self) -> ErrorBody {
        match self {
            Self::BadRequest(b)
            | Self::Unauthorized(b)
            | Self::Forbidden(b)
            | Self::NotFound(b)
            | Self::Conflict(b)
            | Self::PayloadTooLarge(b)
            | Self::TooManyRequests(b)
            | Self::Internal(b)
            | Self::BadGateway(b)
            | Self::Unavailable(b) => b.0.clone(),
        }
    }
}

fn from_parse_error(err: poem::Error) -> ApiError {
    ApiError::new(ErrorCode::BadRequest, err.to_string())
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::not_found("the record"),
            StoreError::Duplicate(what) => Self::new(
                ErrorCode::Duplicate,
                format!("{what} already exists; choose another"),
            ),
            StoreError::SeatLimitReached { max } => Self::new(
                ErrorCode::SeatLimitReached,
                format!(
                    "your plan allows {max} seats and all are in use; delete a seat or ask the platform operator to raise the limit"
                ),
            ),
            StoreError::AlreadyLoggedIn => Self::from(LoginError::AlreadyLoggedIn),
            StoreError::UnknownSkillGroup(id) => Self::new(
                ErrorCode::UnknownSkillGroup,
                format!("skill group {id} does not exist; pick one from GET /api/v1/skill-groups"),
            ),
            StoreError::OnlineLimitReached { max } => Self::new(
                ErrorCode::OnlineLimitReached,
                format!(
                    "your plan allows {max} agents online at once and all are online; ask a colleague to go offline, or the platform operator to raise the limit"
                ),
            ),
            StoreError::Conflict(why) => Self::new(ErrorCode::StateConflict, why),
            StoreError::InUse(why) => Self::new(ErrorCode::InUse, why),
            StoreError::Invalid(e) => Self::invalid(e),
            StoreError::Database(e) => Self::internal(e),
        }
    }
}

impl From<LoginError> for ApiError {
    fn from(e: LoginError) -> Self {
        let message = e.to_string();
        match e {
            LoginError::InvalidCredentials => Self::new(ErrorCode::InvalidCredentials, message),
            LoginError::Throttled(_) => Self::new(ErrorCode::TooManyAttempts, message),
            LoginError::AlreadyLoggedIn => Self::new(ErrorCode::AlreadyLoggedIn, message),
            LoginError::Disabled(m) if m.contains("tenant") => {
                Self::new(ErrorCode::TenantDisabled, message)
            }
            LoginError::Disabled(_) => Self::new(ErrorCode::AccountDisabled, message),
            LoginError::WrongPassword => Self::new(ErrorCode::WrongPassword, message),
            LoginError::Policy(_) => Self::new(ErrorCode::PasswordPolicy, message),
            LoginError::Store(e) => e.into(),
        }
    }
}

/// Turns any error that did not come from a handler (an unknown route, a wrong method, a
/// malformed header) into the same JSON shape. Handler errors pass through untouched.
pub fn to_json_response(err: poem::Error) -> poem::Response {
    if err.is_from_response() {
        return err.into_response();
    }
    let status = err.status();
    let code = match status.as_u16() {
        400 => ErrorCode::BadRequest,
        401 => ErrorCode::Unauthorized,
        403 => ErrorCode::Forbidden,
        404 | 405 => ErrorCode::NotFound,
        413 => ErrorCode::PayloadTooLarge,
        s if s >= 500 => {
            return ApiError::internal(&err).into_response();
        }
        _ => ErrorCode::BadRequest,
    };
    let message = match code {
        ErrorCode::Unauthorized => {
            "log in first: send `Authorization: Bearer <token>` from POST /api/v1/auth/login"
                .to_string()
        }
        ErrorCode::NotFound if status.as_u16() == 405 => {
            "this route does not accept that method; see /docs".to_string()
        }
        ErrorCode::NotFound => "no such route; the API is described at /docs".to_string(),
        _ => err.to_string(),
    };
    let mut resp = ApiError::new(code, message).into_response();
    resp.set_status(status);
    resp
}
