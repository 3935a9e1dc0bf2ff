//! Token inspection: `GET /userinfo`, `POST /introspect`, `POST /revoke`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{non_empty, parse_params};
use crate::oauth::Shared;
use crate::oauth::failure::oauth_error;

pub(super) async fn userinfo(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned());
    let info = bearer.map(|token| shared.provider.lock().introspect(&token));
    match info {
        Some(info) if info.active && info.token_type.as_deref() == Some("access_token") => {
            axum::Json(json!({ "sub": info.sub, "scope": info.scope, "exp": info.exp }))
                .into_response()
        }
        _ => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")],
            axum::Json(json!({ "error": "invalid_token" })),
        )
            .into_response(),
    }
}

pub(super) async fn introspect(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let form = match parse_params(&body) {
        Ok(form) => form,
        Err(problem) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &problem),
    };
    let Some(token) = non_empty(&form, "token") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "token is required",
        );
    };
    axum::Json(shared.provider.lock().introspect(token)).into_response()
}

/// RFC 7009: always 200, whether or not the token was known.
pub(super) async fn revoke(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let form = match parse_params(&body) {
        Ok(form) => form,
        Err(problem) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &problem),
    };
    let Some(token) = non_empty(&form, "token") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "token is required",
        );
    };
    if shared.provider.lock().revoke_token(token) {
        shared.stats.send_modify(|s| s.tokens_revoked += 1);
    }
    StatusCode::OK.into_response()
}
