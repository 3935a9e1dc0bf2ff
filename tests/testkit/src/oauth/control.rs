//! `/_control/*`: drive the fake provider over HTTP, for the Python, Node and Go test suites
//! that run it as the `nexus-testkit oauth` binary. Each route mirrors an `OAuthServer` method.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::Shared;
use super::failure::{Failure, FailureSpec};
use super::options::{AuthorizeMode, ClientAuth, IssParam};
use super::stats::OAuthStats;

pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_control/stats", get(stats))
        .route("/_control/token-requests", get(token_requests))
        .route("/_control/wait", get(wait))
        .route(
            "/_control/failures",
            post(push_failures).delete(clear_failures),
        )
        .route("/_control/config", post(config))
        .route("/_control/issue", post(issue))
        .route("/_control/mint-jwt", post(mint_jwt))
        .route("/_control/expire", post(expire))
        .route("/_control/revoke-all", post(revoke_all))
        .route("/_control/revoke-access-tokens", post(revoke_access_tokens))
}

async fn stats(State(shared): State<Arc<Shared>>) -> Json<OAuthStats> {
    Json(shared.stats.borrow().clone())
}

async fn token_requests(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.provider.lock().log.clone()).into_response()
}

/// `GET /_control/wait?token_requests=3&refresh_accepted=1&timeout_ms=5000`: answers 200 with
/// the stats once every named counter has reached its value, or 408 with the stats on timeout.
async fn wait(
    State(shared): State<Arc<Shared>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let mut timeout = Duration::from_secs(10);
    let mut targets = Vec::new();
    for (name, value) in &params {
        let Ok(value) = value.parse::<u64>() else {
            return bad_request(format!("{name} must be a non-negative integer"));
        };
        if name == "timeout_ms" {
            timeout = Duration::from_millis(value);
        } else if OAuthStats::default().counter(name).is_some() {
            targets.push((name.clone(), value));
        } else {
            return bad_request(format!("unknown counter {name:?}"));
        }
    }
    let reached = |s: &OAuthStats| {
        targets
            .iter()
            .all(|(name, min)| s.counter(name).is_some_and(|v| v >= *min))
    };
    let mut receiver = shared.stats.subscribe();
    match tokio::time::timeout(timeout, receiver.wait_for(reached)).await {
        Ok(Ok(stats)) => Json(stats.clone()).into_response(),
        _ => {
            let last = shared.stats.borrow().clone();
            (
                StatusCode::REQUEST_TIMEOUT,
                Json(json!({ "error": "timeout", "stats": last })),
            )
                .into_response()
        }
    }
}

/// Body: one failure spec, an array of them, or `{"failures": [...]}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum FailuresBody {
    One(FailureSpec),
    Many(Vec<FailureSpec>),
    Wrapped { failures: Vec<FailureSpec> },
}

async fn push_failures(
    State(shared): State<Arc<Shared>>,
    Json(body): Json<FailuresBody>,
) -> Response {
    let specs = match body {
        FailuresBody::One(spec) => vec![spec],
        FailuresBody::Many(specs) | FailuresBody::Wrapped { failures: specs } => specs,
    };
    let pending = super::push_failures(&shared, specs.into_iter().map(Failure::from));
    Json(json!({ "failures_pending": pending })).into_response()
}

async fn clear_failures(State(shared): State<Arc<Shared>>) -> Response {
    super::clear_failures(&shared);
    Json(json!({ "failures_pending": 0 })).into_response()
}

/// Partial settings update; absent fields keep their value.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigBody {
    client_auth: Option<ClientAuth>,
    authorize_mode: Option<AuthorizeMode>,
    iss_param: Option<IssParam>,
    advertise_iss_support: Option<bool>,
    access_token_ttl_secs: Option<u64>,
    redirect_uris: Option<Vec<String>>,
    /// `null` is "no restriction", so this field is set only when present.
    #[serde(default, with = "present_or_null")]
    grantable_scopes: Option<Option<Vec<String>>>,
    reuse_revokes_grant: Option<bool>,
}

mod present_or_null {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<Vec<String>>>, D::Error> {
        Ok(Some(Option::deserialize(d)?))
    }
}

async fn config(State(shared): State<Arc<Shared>>, Json(body): Json<ConfigBody>) -> Response {
    let mut provider = shared.provider.lock();
    let settings = &mut provider.settings;
    if let Some(value) = body.client_auth {
        settings.client_auth = value;
    }
    if let Some(value) = body.authorize_mode {
        settings.authorize_mode = value;
    }
    if let Some(value) = body.iss_param {
        settings.iss_param = value;
    }
    if let Some(value) = body.advertise_iss_support {
        settings.advertise_iss_support = value;
    }
    if let Some(secs) = body.access_token_ttl_secs {
        settings.access_token_ttl = Duration::from_secs(secs);
    }
    if let Some(value) = body.redirect_uris {
        settings.redirect_uris = value;
    }
    if let Some(value) = body.grantable_scopes {
        settings.grantable_scopes = value;
    }
    if let Some(value) = body.reuse_revokes_grant {
        settings.reuse_revokes_grant = value;
    }
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct IssueBody {
    #[serde(default)]
    scopes: Vec<String>,
}

async fn issue(State(shared): State<Arc<Shared>>, Json(body): Json<IssueBody>) -> Response {
    let issued = super::issue_directly(&shared, body.scopes);
    Json(json!({
        "access_token": issued.access_token,
        "refresh_token": issued.refresh_token,
        "expires_in": issued.expires_in,
        "scope": issued.scopes.join(" "),
    }))
    .into_response()
}

/// Body: any JSON object of claims → `{"jwt": "..."}` signed with the published key (a user
/// token from this issuer, for On-Behalf-Of); mirrors `OAuthServer::mint_jwt`.
async fn mint_jwt(
    State(shared): State<Arc<Shared>>,
    Json(claims): Json<serde_json::Map<String, serde_json::Value>>,
) -> Response {
    match shared.signer.sign_any(&claims) {
        Ok(jwt) => Json(json!({ "jwt": jwt })).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// Body `{"access_token": "..."}` expires that token; `{}` expires every access token.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpireBody {
    access_token: Option<String>,
}

async fn expire(State(shared): State<Arc<Shared>>, Json(body): Json<ExpireBody>) -> Response {
    let mut provider = shared.provider.lock();
    let expired = match body.access_token {
        Some(token) => usize::from(provider.expire_access_token(&token)),
        None => provider.expire_all_access_tokens(),
    };
    Json(json!({ "expired": expired })).into_response()
}

async fn revoke_all(State(shared): State<Arc<Shared>>) -> Response {
    let revoked = shared.provider.lock().revoke_all();
    Json(json!({ "revoked": revoked })).into_response()
}

/// Provider-side early revocation of every access token; refresh tokens stay valid.
async fn revoke_access_tokens(State(shared): State<Arc<Shared>>) -> Response {
    let revoked = shared.provider.lock().revoke_access_tokens();
    Json(json!({ "revoked": revoked })).into_response()
}

fn bad_request(message: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": "invalid_request", "error_description": message })),
    )
        .into_response()
}
