//! `POST /token`: parse, authenticate, apply injected failures, run the grant, answer.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::client_auth::{PresentedClient, authenticate, presented_client};
use super::{non_empty, parse_params};
use crate::oauth::Shared;
use crate::oauth::failure::{Failure, invalid_client, no_store, oauth_error};
use crate::oauth::id_token::IdTokenClaims;
use crate::oauth::provider::{GrantError, Issued, unix_seconds};
use crate::oauth::stats::TokenRequestRecord;

/// Why a token request failed, before rendering.
pub(super) enum TokenError {
    /// 401 `invalid_client`.
    Client(String),
    /// 400 with this error code (`invalid_request`, `unsupported_grant_type`).
    Request(&'static str, String),
    /// 400 from the grant rules (`invalid_grant`, `invalid_scope`).
    Grant(GrantError),
}

impl TokenError {
    fn code(&self) -> &'static str {
        match self {
            TokenError::Client(_) => "invalid_client",
            TokenError::Request(code, _) => code,
            TokenError::Grant(grant) => grant.error,
        }
    }

    fn into_response(self) -> Response {
        match self {
            TokenError::Client(description) => invalid_client(&description),
            TokenError::Request(code, description) => {
                oauth_error(StatusCode::BAD_REQUEST, code, &description)
            }
            TokenError::Grant(grant) => {
                oauth_error(StatusCode::BAD_REQUEST, grant.error, &grant.description)
            }
        }
    }
}

/// A parsed token request: its form and the client credentials it carried, or why it could not
/// be parsed (a repeated parameter, malformed Basic credentials).
type ParsedTokenRequest = Result<(HashMap<String, String>, PresentedClient), String>;

pub(super) async fn token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed: ParsedTokenRequest = parse_params(&body)
        .and_then(|form| presented_client(&headers, &form).map(|client| (form, client)));
    let field = |name: &str| {
        parsed
            .as_ref()
            .ok()
            .and_then(|(form, _)| form.get(name).cloned())
    };
    let grant_type = field("grant_type");
    count_token_request(&shared, grant_type.as_deref());
    let failure = take_failure(&shared);

    let mut record = TokenRequestRecord {
        grant_type,
        client_auth: parsed
            .as_ref()
            .map_or("none", |(_, client)| client.method)
            .to_owned(),
        scope: field("scope"),
        status: 0,
        error: None,
        injected_failure: failure.as_ref().map(|f| f.kind().to_owned()),
    };
    let (response, error) = answer_token_request(&shared, &parsed, failure.as_ref()).await;
    record.status = response.status().as_u16();
    record.error = error.map(str::to_owned);
    tracing::debug!(
        grant_type = ?record.grant_type,
        status = record.status,
        error = ?record.error,
        injected = ?record.injected_failure,
        "token request"
    );
    shared.provider.lock().log.push(record);
    response
}

/// The next queued failure, if any, with the counters updated.
fn take_failure(shared: &Shared) -> Option<Failure> {
    let mut provider = shared.provider.lock();
    let failure = provider.failures.pop_front()?;
    let pending = provider.failures.len() as u64;
    shared.stats.send_modify(|s| {
        s.failures_injected += 1;
        s.failures_pending = pending;
    });
    Some(failure)
}

/// The response to a token request (and its OAuth error code, for the log): the injected
/// failure's, or the real grant's after any injected delay.
async fn answer_token_request(
    shared: &Shared,
    parsed: &ParsedTokenRequest,
    failure: Option<&Failure>,
) -> (Response, Option<&'static str>) {
    if let Some(response) = failure.and_then(Failure::short_circuit) {
        return (response, None);
    }
    if let Some(Failure::Slow(delay)) = failure {
        tokio::time::sleep(*delay).await;
    }
    let outcome = match parsed {
        Ok((form, client)) => grant(shared, form, client, failure),
        Err(problem) => Err(TokenError::Request("invalid_request", problem.clone())),
    };
    match outcome {
        Ok(response) => (response, None),
        Err(error) => {
            let code = error.code();
            (error.into_response(), Some(code))
        }
    }
}

fn count_token_request(shared: &Shared, grant_type: Option<&str>) {
    shared.stats.send_modify(|s| {
        s.token_requests += 1;
        match grant_type {
            Some("authorization_code") => s.authorization_code_requests += 1,
            Some("refresh_token") => s.refresh_token_requests += 1,
            Some("client_credentials") => s.client_credentials_requests += 1,
            _ => {}
        }
    });
}

/// Authenticate the client, run the grant, render the success response.
fn grant(
    shared: &Shared,
    form: &HashMap<String, String>,
    client: &PresentedClient,
    failure: Option<&Failure>,
) -> Result<Response, TokenError> {
    // `NoNewRefreshToken` simulates a provider that neither issues nor rotates refresh tokens.
    let with_refresh_token = failure != Some(&Failure::NoNewRefreshToken);
    let scope = form.get("scope").map(String::as_str);
    let mut provider = shared.provider.lock();
    authenticate(&provider.settings, client)?;
    let issued = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let code = required(form, "code")?;
            let redirect_uri = non_empty(form, "redirect_uri");
            let verifier = non_empty(form, "code_verifier");
            provider.redeem_code(code, redirect_uri, verifier, with_refresh_token)
        }
        Some("refresh_token") => {
            let refresh_token = required(form, "refresh_token")?;
            let result = provider.refresh(refresh_token, scope, with_refresh_token);
            count_refresh_outcome(shared, &result);
            result
        }
        Some("client_credentials") => Ok(provider.client_credentials(scope)),
        Some(other) => {
            let problem = format!("grant_type {other:?} is not supported");
            return Err(TokenError::Request("unsupported_grant_type", problem));
        }
        None => {
            return Err(TokenError::Request(
                "invalid_request",
                "grant_type is required".into(),
            ));
        }
    }
    .map_err(TokenError::Grant)?;
    let client_id = provider.settings.client_id.clone();
    let subject = provider.settings.subject.clone();
    drop(provider);
    shared.stats.send_modify(|s| s.access_tokens_issued += 1);

    let omit_expires_in = failure == Some(&Failure::MissingExpiresIn);
    Ok(token_response(
        shared,
        &issued,
        &client_id,
        &subject,
        omit_expires_in,
    ))
}

fn required<'a>(form: &'a HashMap<String, String>, name: &str) -> Result<&'a str, TokenError> {
    non_empty(form, name)
        .ok_or_else(|| TokenError::Request("invalid_request", format!("{name} is required")))
}

fn count_refresh_outcome(shared: &Shared, result: &Result<Issued, GrantError>) {
    shared.stats.send_modify(|s| match result {
        Ok(_) => s.refresh_accepted += 1,
        Err(error) => {
            s.refresh_rejected += 1;
            if error.reuse_detected {
                s.refresh_reuse_detected += 1;
            }
        }
    });
}

/// RFC 6749 §5.1 success body, plus an OIDC `id_token` when `openid` was granted.
fn token_response(
    shared: &Shared,
    issued: &Issued,
    client_id: &str,
    subject: &str,
    omit_expires_in: bool,
) -> Response {
    let mut body = json!({
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "scope": issued.scopes.join(" "),
    });
    if !omit_expires_in {
        body["expires_in"] = json!(issued.expires_in);
    }
    if let Some(refresh_token) = &issued.refresh_token {
        body["refresh_token"] = json!(refresh_token);
    }
    if issued.scopes.iter().any(|s| s == "openid") {
        let now = i64::try_from(unix_seconds(std::time::SystemTime::now())).unwrap_or(i64::MAX);
        let lifetime = i64::try_from(issued.expires_in.max(60)).unwrap_or(i64::MAX);
        let claims = IdTokenClaims {
            iss: &shared.issuer,
            sub: subject,
            aud: client_id,
            exp: now.saturating_add(lifetime),
            iat: now,
            nonce: issued.nonce.as_deref(),
        };
        match shared.signer.sign(&claims) {
            Ok(id_token) => body["id_token"] = json!(id_token),
            Err(error) => {
                tracing::error!(%error, "could not sign an id_token");
                return oauth_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "id_token signing failed",
                );
            }
        }
    }
    let mut response = axum::Json(body).into_response();
    no_store(&mut response);
    response
}
