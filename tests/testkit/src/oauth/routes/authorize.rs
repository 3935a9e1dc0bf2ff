//! `GET /authorize`: the authorization endpoint, its redirect-safety checks and its reply.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{non_empty, parse_params};
use crate::oauth::Shared;
use crate::oauth::failure::oauth_error;
use crate::oauth::options::{AuthorizeMode, IssParam};
use crate::oauth::provider::{Provider, parse_scopes};

pub(super) async fn authorize(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
) -> Response {
    shared.stats.send_modify(|s| s.authorize_requests += 1);
    let params = match parse_params(query.unwrap_or_default().as_bytes()) {
        Ok(params) => params,
        Err(problem) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &problem),
    };
    let mut provider = shared.provider.lock();
    let redirect_uri = match verified_redirect_uri(&provider, &params) {
        Ok(uri) => uri,
        Err(problem) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", problem),
    };
    let reply = AuthorizeReply {
        redirect_uri,
        state: non_empty(&params, "state"),
        iss: match &provider.settings.iss_param {
            IssParam::Correct => Some(shared.issuer.clone()),
            IssParam::Omit => None,
            IssParam::Override(value) => Some(value.clone()),
        },
    };
    let challenge = match checked_code_challenge(&params) {
        Ok(challenge) => challenge,
        Err((error, description)) => return reply.error(error, description),
    };
    if provider.settings.authorize_mode == AuthorizeMode::Deny {
        return reply.error("access_denied", "the user denied the request");
    }

    let requested = parse_scopes(params.get("scope").map(String::as_str).unwrap_or_default());
    let scopes = provider.grantable(requested);
    let nonce = non_empty(&params, "nonce").map(str::to_owned);
    let code = provider.issue_code(redirect_uri.to_owned(), challenge.to_owned(), scopes, nonce);
    drop(provider);
    shared.stats.send_modify(|s| s.codes_issued += 1);
    reply.redirect(&[("code", &code)])
}

/// The client and its redirect URI. Until both are verified, errors are shown, never
/// redirected: redirecting to an unverified URI would make the provider an open redirector
/// (RFC 6749 §4.1.2.1).
fn verified_redirect_uri<'a>(
    provider: &Provider,
    params: &'a HashMap<String, String>,
) -> Result<&'a str, &'static str> {
    if non_empty(params, "client_id") != Some(provider.settings.client_id.as_str()) {
        return Err("unknown or missing client_id");
    }
    let Some(redirect_uri) = non_empty(params, "redirect_uri") else {
        return Err("redirect_uri is required");
    };
    if !provider.redirect_uri_allowed(redirect_uri) {
        return Err("redirect_uri is not registered");
    }
    Ok(redirect_uri)
}

/// The rest of an authorization request, once it is safe to redirect errors: response type,
/// state and PKCE. Returns the code challenge, or the OAuth error and its description.
fn checked_code_challenge(
    params: &HashMap<String, String>,
) -> Result<&str, (&'static str, &'static str)> {
    if params.get("response_type").map(String::as_str) != Some("code") {
        return Err((
            "unsupported_response_type",
            "only response_type=code is supported",
        ));
    }
    if non_empty(params, "state").is_none() {
        return Err(("invalid_request", "state is required"));
    }
    let Some(challenge) = non_empty(params, "code_challenge") else {
        return Err(("invalid_request", "PKCE code_challenge is required"));
    };
    if params.get("code_challenge_method").map(String::as_str) != Some("S256") {
        return Err(("invalid_request", "code_challenge_method must be S256"));
    }
    // An S256 challenge is an unpadded base64url SHA-256 digest: exactly 43 characters.
    let base64url = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    if challenge.len() != 43 || !challenge.bytes().all(base64url) {
        return Err((
            "invalid_request",
            "code_challenge must be a base64url SHA-256 digest",
        ));
    }
    Ok(challenge)
}

/// Where and how the authorization response goes back to the client.
struct AuthorizeReply<'a> {
    redirect_uri: &'a str,
    state: Option<&'a str>,
    iss: Option<String>,
}

impl AuthorizeReply<'_> {
    fn error(&self, error: &str, description: &str) -> Response {
        self.redirect(&[("error", error), ("error_description", description)])
    }

    /// 302 to the redirect URI with `extra` plus `state` and `iss`, keeping its own query.
    fn redirect(&self, extra: &[(&str, &str)]) -> Response {
        let Ok(mut location) = url::Url::parse(self.redirect_uri) else {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "redirect_uri is not a URL",
            );
        };
        {
            let mut pairs = location.query_pairs_mut();
            for (name, value) in extra {
                pairs.append_pair(name, value);
            }
            if let Some(state) = self.state {
                pairs.append_pair("state", state);
            }
            if let Some(iss) = &self.iss {
                pairs.append_pair("iss", iss);
            }
        }
        (
            StatusCode::FOUND,
            [(header::LOCATION, location.to_string())],
        )
            .into_response()
    }
}
