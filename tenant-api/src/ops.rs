//! Liveness and readiness, for load balancers and Kubernetes probes.

use crate::State;
use crate::error::{ApiError, ErrorCode};
use poem::web::Data;
use poem_openapi::payload::PlainText;
use poem_openapi::{OpenApi, Tags};

#[derive(Tags)]
enum Tag {
    /// Health checks.
    Ops,
}

pub struct OpsApi;

#[OpenApi(tag = "Tag::Ops")]
impl OpsApi {
    /// Liveness
    ///
    /// Answers `ok` while the process is up.
    #[oai(path = "/healthz", method = "get", operation_id = "healthz")]
    async fn healthz(&self) -> PlainText<&'static str> {
        PlainText("ok")
    }

    /// Readiness
    ///
    /// Answers `ready` when the database and the event bus both answer; otherwise 503
    /// `unavailable`, naming which one did not.
    #[oai(path = "/readyz", method = "get", operation_id = "readyz")]
    async fn readyz(&self, state: Data<&State>) -> Result<PlainText<&'static str>, ApiError> {
        if let Err(e) = state.store.ping().await {
            tracing::warn!(error = %e, "readiness: database");
            return Err(ApiError::new(
                ErrorCode::Unavailable,
                "the database is not answering",
            ));
        }
        if let Err(e) = state.bus.ping().await {
            tracing::warn!(error = %e, "readiness: bus");
            return Err(ApiError::new(
                ErrorCode::Unavailable,
                format!("the {} event bus is not answering", state.bus.name()),
            ));
        }
        Ok(PlainText("ready"))
    }
}
