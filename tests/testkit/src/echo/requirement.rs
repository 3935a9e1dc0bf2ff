//! The credential gate of the echo server: which credential a request must carry.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::EchoResponse;
use crate::oauth::{Introspection, OAuthServer};

/// The credential the echo server demands, changeable at run time.
///
/// JSON (for `POST /_control/require`): `{"kind":"none"}`,
/// `{"kind":"header","name":"authorization","value":"Bearer X"}`,
/// `{"kind":"query","name":"api_key","value":"X"}`,
/// `{"kind":"oauth_token","introspection_url":"http://127.0.0.1:PORT/introspect","scope":"read"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Requirement {
    /// Everything is accepted.
    #[default]
    None,
    /// Header `name` (case-insensitive) must be present with exactly `value`.
    Header { name: String, value: String },
    /// Query parameter `name` must be present with exactly `value` (after URL-decoding).
    Query { name: String, value: String },
    /// `Authorization: Bearer <token>` where the token is active according to an OAuth server's
    /// introspection endpoint (e.g. [`OAuthServer::introspect_url`]), and carries every scope of
    /// `scope` (space-separated) if set. The gate then follows refreshes and expiry by itself,
    /// which is what end-to-end tests of "401 → refresh → retry" need. A missing or inactive
    /// token gets 401; a token lacking a scope gets 403 `insufficient_scope`.
    OauthToken {
        introspection_url: String,
        #[serde(default)]
        scope: Option<String>,
    },
}

impl Requirement {
    /// Convenience for the common case: `Authorization: Bearer <token>`.
    pub fn bearer(token: impl std::fmt::Display) -> Self {
        Requirement::Header {
            name: "authorization".to_owned(),
            value: format!("Bearer {token}"),
        }
    }

    /// Accept any access token that `oauth` currently considers active (see
    /// [`Requirement::OauthToken`]).
    pub fn active_token_from(oauth: &OAuthServer) -> Self {
        Requirement::OauthToken {
            introspection_url: oauth.introspect_url(),
            scope: None,
        }
    }
}

/// The gate's decision about one request.
pub(super) enum Verdict {
    Allowed,
    /// 401: missing or wrong credential.
    Unauthorized,
    /// 403: the token is valid but lacks this scope.
    InsufficientScope(String),
    /// 502: the introspection endpoint could not be asked.
    IntrospectionFailed(String),
}

impl Verdict {
    /// The response for a refused request (`None` when allowed).
    pub(super) fn refusal(self) -> Option<Response> {
        let (status, challenge, body) = match self {
            Verdict::Allowed => return None,
            Verdict::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "Bearer error=\"invalid_token\"".to_owned(),
                json!({"error": "unauthorized", "message": "the required credential is missing or wrong"}),
            ),
            Verdict::InsufficientScope(scope) => (
                StatusCode::FORBIDDEN,
                format!("Bearer error=\"insufficient_scope\", scope=\"{scope}\""),
                json!({"error": "insufficient_scope", "message": format!("the token lacks scope {scope:?}")}),
            ),
            Verdict::IntrospectionFailed(problem) => {
                let body = json!({"error": "introspection_failed", "message": problem});
                return Some((StatusCode::BAD_GATEWAY, Json(body)).into_response());
            }
        };
        let mut response = (status, Json(body)).into_response();
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        Some(response)
    }
}

/// Decide whether `request` meets `requirement`. Only the `OauthToken` kind does I/O.
pub(super) async fn check(
    requirement: &Requirement,
    request: &EchoResponse,
    http: &reqwest::Client,
) -> Verdict {
    let allowed = match requirement {
        Requirement::None => true,
        Requirement::Header { name, value } => request
            .headers
            .get(&name.to_ascii_lowercase())
            .is_some_and(|v| v == value),
        Requirement::Query { name, value } => request.query.get(name).is_some_and(|v| v == value),
        Requirement::OauthToken {
            introspection_url,
            scope,
        } => {
            return check_oauth_token(request, introspection_url, scope.as_deref(), http).await;
        }
    };
    if allowed {
        Verdict::Allowed
    } else {
        Verdict::Unauthorized
    }
}

async fn check_oauth_token(
    request: &EchoResponse,
    introspection_url: &str,
    required_scope: Option<&str>,
    http: &reqwest::Client,
) -> Verdict {
    let token = request
        .headers
        .get("authorization")
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let Some(token) = token else {
        return Verdict::Unauthorized;
    };
    let info = match introspect(http, introspection_url, token).await {
        Ok(info) => info,
        Err(problem) => return Verdict::IntrospectionFailed(problem),
    };
    if !info.active || info.token_type.as_deref() != Some("access_token") {
        return Verdict::Unauthorized;
    }
    let granted: Vec<&str> = info
        .scope
        .as_deref()
        .unwrap_or_default()
        .split(' ')
        .collect();
    let missing = required_scope
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .find(|s| !granted.contains(s));
    match missing {
        Some(scope) => Verdict::InsufficientScope(scope.to_owned()),
        None => Verdict::Allowed,
    }
}

async fn introspect(
    http: &reqwest::Client,
    url: &str,
    token: &str,
) -> Result<Introspection, String> {
    let response = http
        .post(url)
        .form(&[("token", token)])
        .send()
        .await
        .map_err(|e| format!("introspection request failed: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("introspection answered {}", response.status()));
    }
    response
        .json()
        .await
        .map_err(|e| format!("introspection answer unreadable: {e}"))
}
