//! The control + token HTTP server (a minimal stand-in gateway): resolve issues the valid token,
//! `/_control/*` rotates, revokes, rejects, drops and waits.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::{WsAttempt, WsShared, wait_until};

pub(super) fn control_router(shared: Arc<WsShared>) -> Router {
    Router::new()
        .route("/v1/resolve", get(resolve))
        .route("/_control/rotate", post(rotate))
        .route("/_control/revoke", post(revoke))
        .route("/_control/reject", post(reject))
        .route("/_control/drop", post(drop_all))
        .route("/_control/attempts", get(attempts))
        .route("/_control/wait", get(wait))
        .with_state(shared)
}

async fn resolve(
    State(shared): State<Arc<WsShared>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    shared.resolves.fetch_add(1, Ordering::Relaxed);
    if *shared.revoked.lock() {
        return (
            StatusCode::CONFLICT,
            Json(json!({
                "error": "reauth_required",
                "message": "the grant was revoked; authorize again",
                "reauth_url": "https://example.invalid/reauth"
            })),
        )
            .into_response();
    }
    let token = if query.get("force_refresh").map(String::as_str) == Some("true") {
        shared.rotate()
    } else {
        shared.valid.lock().value.clone()
    };
    let remaining = {
        let valid = shared.valid.lock();
        shared.token_ttl.saturating_sub(valid.issued.elapsed())
    };
    Json(json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": remaining.as_secs(),
        "strategy": {"type": "oauth2"},
        "credentials": {"access_token": token},
        "scopes": [],
        "connection_id": "conn_ws"
    }))
    .into_response()
}

async fn rotate(State(shared): State<Arc<WsShared>>) -> Json<serde_json::Value> {
    Json(json!({ "token": shared.rotate() }))
}

async fn revoke(State(shared): State<Arc<WsShared>>) -> StatusCode {
    *shared.revoked.lock() = true;
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct RejectBody {
    reject: bool,
}

async fn reject(State(shared): State<Arc<WsShared>>, Json(body): Json<RejectBody>) -> StatusCode {
    *shared.reject_all.lock() = body.reject;
    StatusCode::NO_CONTENT
}

async fn drop_all(State(shared): State<Arc<WsShared>>) -> StatusCode {
    shared.drop_generation.send_modify(|g| *g += 1);
    StatusCode::NO_CONTENT
}

async fn attempts(State(shared): State<Arc<WsShared>>) -> Json<Vec<WsAttempt>> {
    Json(shared.attempts.lock().clone())
}

#[derive(Deserialize)]
struct WaitQuery {
    attempts: usize,
    timeout_ms: Option<u64>,
}

async fn wait(State(shared): State<Arc<WsShared>>, Query(query): Query<WaitQuery>) -> Response {
    let timeout = Duration::from_millis(query.timeout_ms.unwrap_or(5000).min(300_000));
    match wait_until(&shared.attempt_count, |n| n >= query.attempts, timeout).await {
        Ok(n) => Json(json!({ "attempts": n })).into_response(),
        Err(timeout) => (
            StatusCode::REQUEST_TIMEOUT,
            Json(json!({ "attempts": timeout.last })),
        )
            .into_response(),
    }
}
