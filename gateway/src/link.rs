//! Signed buyer links. A tenant's back end sends its buyer to
//! `/chat/{tenant}?buyer={id}&expires={unix seconds}&sig={hex}`, where `sig` is
//! [`kefu_usersig::link_signature`] with the IM app's secret key. The chat page exchanges the
//! link at `POST /im/link` for a UserSig to open the socket with; the buyer is imported into
//! the app on first use. The tenant never hands its key or a UserSig to the browser.

use crate::GatewayState;
use kefu_store::ImAccount;
use poem::http::StatusCode;
use poem::web::{Data, Json};
use poem::{IntoResponse, Response, handler};
use serde::Deserialize;
use serde_json::json;

/// The furthest ahead a link may expire.
pub const MAX_LINK_SECONDS: i64 = 7 * 86_400;
/// How long the UserSig a link buys stays valid.
pub const SESSION_SECONDS: i64 = 86_400;

#[derive(Debug, Deserialize)]
pub struct LinkRequest {
    pub tenant: String,
    pub buyer: String,
    pub expires: i64,
    pub sig: String,
    /// Shown to agents; kept from the last link when absent.
    #[serde(default)]
    pub nick: Option<String>,
}

fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "code": code, "message": message }))).into_response()
}

/// `POST /im/link`: a signed link for a UserSig.
#[handler]
pub async fn exchange(Json(req): Json<LinkRequest>, state: Data<&GatewayState>) -> Response {
    match exchange_inner(&req, &state).await {
        Ok(body) => Json(body).into_response(),
        Err(r) => r,
    }
}

async fn exchange_inner(
    req: &LinkRequest,
    state: &GatewayState,
) -> Result<serde_json::Value, Response> {
    let internal = |e: kefu_store::StoreError| {
        tracing::error!(error = %e, "a buyer link could not be checked");
        refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the service could not check this link; try again shortly",
        )
    };
    let forged = || {
        refuse(
            StatusCode::UNAUTHORIZED,
            "bad_link",
            "this link is not valid; open the chat again from the shop",
        )
    };
    let Some(tenant) = state
        .store
        .find_tenant_by_code(&req.tenant)
        .await
        .map_err(internal)?
    else {
        return Err(forged());
    };
    let Some(app) = state.store.get_im_app(tenant.id).await.map_err(internal)? else {
        return Err(forged());
    };
    if tenant.disabled {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "tenant_disabled",
            "this shop's customer service is not available",
        ));
    }
    let buyer = req.buyer.trim();
    if buyer.is_empty() || buyer.len() > 32 || app.is_built_in(buyer) {
        return Err(forged());
    }
    if !kefu_usersig::verify_link(
        &app.secret_key,
        app.sdk_app_id as u64,
        buyer,
        req.expires,
        &req.sig,
    ) {
        return Err(forged());
    }
    let now = state.clock.now() / 1000;
    if req.expires < now {
        return Err(refuse(
            StatusCode::UNAUTHORIZED,
            "link_expired",
            "this link has expired; open the chat again from the shop",
        ));
    }
    if req.expires > now + MAX_LINK_SECONDS {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "link_too_long",
            "a link may expire at most 7 days ahead; the shop should sign a shorter one",
        ));
    }
    let existing = state
        .store
        .get_im_account(tenant.id, buyer)
        .await
        .map_err(internal)?;
    if existing.is_none() || req.nick.is_some() {
        let account = ImAccount {
            user_id: buyer.to_string(),
            nick: req
                .nick
                .clone()
                .or_else(|| existing.as_ref().map(|a| a.nick.clone()))
                .unwrap_or_default()
                .chars()
                .take(64)
                .collect(),
            face_url: existing
                .as_ref()
                .map(|a| a.face_url.clone())
                .unwrap_or_default(),
            kind: 0,
            created_at: state.clock.now(),
            kicked_at: None,
        };
        state
            .store
            .import_im_account(tenant.id, &account)
            .await
            .map_err(internal)?;
    }
    let usersig = kefu_usersig::generate(
        app.sdk_app_id as u64,
        &app.secret_key,
        buyer,
        SESSION_SECONDS,
        now,
    );
    Ok(json!({
        "sdkappid": app.sdk_app_id,
        "identifier": buyer,
        "usersig": usersig,
        "expires_at": now + SESSION_SECONDS,
        "service_account": app.service_accounts.first().map(|a| a.identifier.clone()),
    }))
}
