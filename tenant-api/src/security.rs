//! Bearer-token security schemes. `Auth` admits accounts that have set their own password;
//! `AuthAny` also admits accounts that must still change the initial one, and guards only
//! the routes needed to do that (change password, log out, heartbeat, who am I).

use crate::State;
use crate::error::{ApiError, ErrorCode};
use kefu_auth::Principal;
use poem::Request;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;

/// A logged-in account that has set its own password.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "opaque", checker = "active")]
pub struct Auth(pub Principal);

/// A logged-in account, even one that must still change its initial password.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "opaque", checker = "any")]
pub struct AuthAny(pub Principal);

async fn any(req: &Request, bearer: Bearer) -> poem::Result<Principal> {
    let state = req.data::<State>().expect("State is attached to the API");
    let ip = crate::client_ip(req);
    match state.logins.authenticate(&bearer.token, &ip).await {
        Ok(Some(p)) => Ok(p),
        Ok(None) => Err(ApiError::new(
            ErrorCode::Unauthorized,
            "your login has ended (expired, logged out or kicked); log in again",
        )
        .into_poem()),
        Err(e) => Err(ApiError::from(e).into_poem()),
    }
}

async fn active(req: &Request, bearer: Bearer) -> poem::Result<Principal> {
    let p = any(req, bearer).await?;
    if p.account.must_change_password {
        return Err(ApiError::new(
            ErrorCode::PasswordChangeRequired,
            "change your initial password first with POST /api/v1/auth/password",
        )
        .into_poem());
    }
    Ok(p)
}
