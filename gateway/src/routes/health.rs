//! Operational endpoints: liveness, readiness, metrics and the OpenAPI document. None needs an
//! API key; none reveals anything secret.

use crate::Gateway;
use crate::error::ApiError;
use crate::middleware::RequestId;
use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use nexus_protocol::ErrorBody;
use serde_json::json;

#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The gateway process is up")))]
pub async fn healthz() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "The broker is reachable, ready, and accepts the internal token"),
        (status = 503, description = "The broker is unreachable, not ready, or refuses the internal token", body = ErrorBody),
    ))]
pub async fn readyz(
    State(gateway): State<Gateway>,
    Extension(request_id): Extension<RequestId>,
) -> Result<Response, ApiError> {
    gateway.inner.broker.ready(request_id.as_str()).await?;
    Ok(axum::Json(json!({"status": "ready"})).into_response())
}

#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain")))]
pub async fn metrics(State(gateway): State<Gateway>) -> Response {
    let mut text = gateway.inner.metrics.render();
    if let Some(log) = &gateway.inner.config.access_log {
        crate::metrics::render_access_log(&mut text, log.dropped(), log.written());
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        text,
    )
        .into_response()
}

#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "This OpenAPI 3.1 document: the routes this gateway serves")))]
pub async fn openapi_json(State(gateway): State<Gateway>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        gateway.inner.openapi_json.clone(),
    )
        .into_response()
}
