//! The IM gateway: the Tencent Cloud IM server REST API (`/v4/{service}/{command}`) as real
//! clients send it, so that an integrator who talks to Tencent IM can point their code at
//! Kefu by changing only the host. The wire rules are in `docs/protocol.md`.
//!
//! Every answer is HTTP 200 with `ActionStatus`, `ErrorCode` and `ErrorInfo`, because older
//! clients treat any other status as a transport failure. The realtime socket (`/im/ws`)
//! carries the same message elements as JSON frames.

pub mod callbacks;
mod envelope;
pub mod hub;
pub mod link;
mod login_svc;
pub mod media;
mod openim;
mod rest;
mod socket;

use kefu_domain::Clock;
use kefu_store::Store;
use poem::{Endpoint, EndpointExt, Route};
use std::sync::Arc;

pub use envelope::ImError;
pub(crate) use kefu_domain::elements;

/// What gateway handlers need.
#[derive(Clone)]
pub struct GatewayState {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub bus: Arc<dyn kefu_bus::Bus>,
    /// REST calls allowed per app, per command, per second; 0 means no limit.
    pub rate_limit: i64,
    /// This node's socket connections.
    pub hub: Arc<hub::Hub>,
    /// The client for callbacks to tenants' servers.
    pub http: reqwest::Client,
    /// Typing signals from one socket are passed on at most this often (ms); 1000 in service.
    pub typing_interval_ms: i64,
    /// Uploaded files and the links to them.
    pub media: Arc<media::Media>,
}

/// The realtime socket, to be nested at `/im`: `GET /im/ws`.
pub fn socket_routes(state: GatewayState) -> impl Endpoint {
    Route::new()
        .at("/ws", socket::upgrade)
        .at("/link", poem::post(link::exchange))
        .at("/media", poem::post(media::upload))
        .data(state)
}

/// Media files behind signed links, to be nested at `/media`: `GET /media/{tenant}/{file}`.
pub fn media_routes(state: GatewayState) -> impl Endpoint {
    Route::new()
        .at("/:tenant/:file", poem::get(media::serve))
        .data(state)
}

/// The REST endpoint, to be nested at `/v4`.
pub fn routes(state: GatewayState) -> impl Endpoint {
    Route::new()
        .at("/:service/:command", rest::handle)
        .at("/*path", rest::unknown_path)
        .data(state)
}
