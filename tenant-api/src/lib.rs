//! The tenant API: REST for operators, tenant admins and agents, described by OpenAPI.
//!
//! Routes live in one module per area (`auth`, `platform`, `accounts`, `ops`). Each checks
//! the caller with casbin before touching data, and scopes every read and write to the
//! caller's own tenant, so that another tenant's records are simply not found.

mod accounts;
mod auth;
mod bot;
mod conversations;
mod dto;
pub mod error;
mod im_app;
mod import;
mod ops;
mod orders;
mod platform;
mod reports;
mod security;
mod service;
mod skill_groups;

use kefu_auth::{Authorizer, Logins, Principal};
use kefu_bus::Bus;
use kefu_domain::event::{Event, topic};
use kefu_domain::{Clock, TenantId};
use kefu_mail::Mailer;
use kefu_store::Store;
use poem::{Endpoint, EndpointExt, Request, Route};
use poem_openapi::OpenApiService;
use std::sync::Arc;

pub use error::{ApiError, ErrorCode};

/// Everything a handler needs. Cheap to clone; attached to every request.
#[derive(Clone)]
pub struct State {
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn Bus>,
    pub mailer: Arc<dyn Mailer>,
    pub clock: Arc<dyn Clock>,
    pub logins: Arc<Logins>,
    pub authz: Arc<Authorizer>,
    /// Take the client address from `X-Forwarded-For`. Only safe behind a proxy that sets
    /// it; otherwise a client could pick its own address and dodge per-address throttling.
    pub trust_forwarded_for: bool,
    /// How media links in messages are signed (the same settings as the gateway's).
    pub media_links: Arc<kefu_media::links::Links>,
    /// Asks tenants' order providers (one per process: it holds the 60 s page cache).
    pub orders: Arc<kefu_orders::OrderClient>,
}

impl State {
    /// Refuses unless the caller's role allows `action` on `object` in its own domain.
    pub(crate) async fn require(
        &self,
        who: &Principal,
        object: &str,
        action: &str,
    ) -> Result<(), ApiError> {
        if self.authz.allows(&who.account, object, action).await {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "your role ({}) may not {action} {object}; ask an administrator",
                who.account.role
            )))
        }
    }

    /// As [`State::require`], for routes inside a tenant: returns the caller's tenant.
    pub(crate) async fn require_tenant(
        &self,
        who: &Principal,
        object: &str,
        action: &str,
    ) -> Result<TenantId, ApiError> {
        self.require(who, object, action).await?;
        who.tenant()
            .ok_or_else(|| ApiError::forbidden("this route is for tenant accounts"))
    }

    /// Records an action of `who` in their tenant's audit log.
    pub(crate) async fn audit(&self, who: &Principal, action: &str, target: &str, detail: &str) {
        self.logins
            .audit(
                who.tenant(),
                Some(&who.account),
                action,
                target,
                detail,
                &who.ip,
            )
            .await;
    }

    /// The conversation engine over this state's store, bus and clock.
    pub(crate) fn engine(&self) -> kefu_engine::Engine {
        kefu_engine::Engine::new(self.store.clone(), self.bus.clone(), self.clock.clone())
    }

    /// Tells every node (this one first) that role assignments changed.
    pub(crate) async fn policy_changed(&self) {
        self.authz.reload().await;
        if let Err(e) = self.bus.publish(topic::POLICY, &Event::PolicyChanged).await {
            tracing::warn!(error = %e, "could not announce a policy change; other nodes reload on their next denial");
        }
    }
}

type Apis = (
    auth::AuthApi,
    platform::PlatformApi,
    accounts::AccountsApi,
    im_app::ImAppApi,
    skill_groups::SkillGroupsApi,
    conversations::ConversationsApi,
    service::ServiceApi,
    bot::BotApi,
    orders::OrdersApi,
    reports::ReportsApi,
    ops::OpsApi,
);

/// The OpenAPI service: routes and their description.
pub fn service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            auth::AuthApi,
            platform::PlatformApi,
            accounts::AccountsApi,
            im_app::ImAppApi,
            skill_groups::SkillGroupsApi,
            conversations::ConversationsApi,
            service::ServiceApi,
            bot::BotApi,
            orders::OrdersApi,
            reports::ReportsApi,
            ops::OpsApi,
        ),
        "Kefu tenant API",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Operators manage tenants and plans; tenant admins manage seats, logins and skill groups. \
         Every error is `{ \"code\": \"…\", \"message\": \"…\" }` with a code from `ErrorCode`.",
    )
}

/// The spec as the server serves it, for the committed `openapi/openapi.json`.
pub fn spec_json() -> String {
    service().spec()
}

/// The API, its spec at `/openapi.json` and Swagger UI at `/docs`, with errors as JSON.
pub fn routes(state: State) -> impl Endpoint {
    let api = service();
    let spec = api.spec_endpoint();
    let ui = api.swagger_ui();
    Route::new()
        .nest("/", api)
        .at("/openapi.json", spec)
        .nest("/docs", ui)
        .around(record_metrics)
        .catch_all_error(|err| async move { error::to_json_response(err) })
        .data(state)
}

/// The caller's address: the first `X-Forwarded-For` hop when the proxy is trusted, else
/// the peer.
pub fn client_ip(req: &Request) -> String {
    let trusted = req.data::<State>().is_some_and(|s| s.trust_forwarded_for);
    req.header("x-forwarded-for")
        .filter(|_| trusted)
        .and_then(|v| v.split(',').next())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| {
            req.remote_addr()
                .as_socket_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_else(|| "unknown".into())
        })
}

/// Counts requests by operation and status and times them, for the Prometheus endpoint.
async fn record_metrics<E: Endpoint>(
    ep: std::sync::Arc<E>,
    req: Request,
) -> poem::Result<poem::Response> {
    use poem::IntoResponse;
    use poem_openapi::OperationId;
    let method = req.method().to_string();
    let start = std::time::Instant::now();
    let result = ep.call(req).await.map(IntoResponse::into_response);
    let (route, status) = match &result {
        Ok(resp) => (resp.data::<OperationId>().map(|o| o.0), resp.status()),
        Err(err) => (err.data::<OperationId>().map(|o| o.0), err.status()),
    };
    let route = route.unwrap_or("other");
    let status = status.as_u16().to_string();
    metrics::counter!("kefu_http_requests_total", "route" => route, "method" => method, "status" => status).increment(1);
    metrics::histogram!("kefu_http_request_duration_seconds", "route" => route)
        .record(start.elapsed().as_secs_f64());
    result
}
