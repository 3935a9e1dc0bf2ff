//! The provider's public endpoints: authorization, token, userinfo, introspection, revocation,
//! discovery and JWKS.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use super::Shared;
use super::failure::{Failure, invalid_client, no_store, oauth_error};
use super::id_token::IdTokenClaims;
use super::options::{AuthorizeMode, ClientAuth, IssParam};
use super::provider::{GrantError, Issued, Provider, parse_scopes, unix_seconds};
use super::stats::TokenRequestRecord;

pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .route("/userinfo", get(userinfo))
        .route("/introspect", post(introspect))
        .route("/revoke", post(revoke))
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/.well-known/oauth-authorization-server", get(discovery))
        .route("/jwks", get(jwks))
}

// ---------------------------------------------------------------------------------------------
// Form and query parsing

/// Parse `application/x-www-form-urlencoded` text. A repeated parameter is an error
/// (RFC 6749 §3.1 and §3.2: parameters must not be included more than once).
fn parse_params(raw: &[u8]) -> Result<HashMap<String, String>, String> {
    let mut params = HashMap::new();
    for (name, value) in url::form_urlencoded::parse(raw) {
        if params
            .insert(name.to_string(), value.into_owned())
            .is_some()
        {
            return Err(format!("parameter {name:?} is repeated"));
        }
    }
    Ok(params)
}

fn non_empty<'a>(params: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

// ---------------------------------------------------------------------------------------------
// GET /authorize

async fn authorize(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
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

// ---------------------------------------------------------------------------------------------
// POST /token

/// Why a token request failed, before rendering.
enum TokenError {
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

async fn token(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
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

// ---------------------------------------------------------------------------------------------
// Client authentication (RFC 6749 §2.3.1)

/// The client credentials a token request carried, and how.
struct PresentedClient {
    /// `client_secret_basic`, `client_secret_post`, `both` or `none`.
    method: &'static str,
    id: Option<String>,
    secret: Option<String>,
}

fn presented_client(
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<PresentedClient, String> {
    let basic = match headers.get(header::AUTHORIZATION) {
        Some(value) => parse_basic(value)?,
        None => None,
    };
    let form_id = form.get("client_id").cloned();
    let form_secret = form.get("client_secret").cloned();
    Ok(match (basic, form_secret) {
        (Some(_), Some(_)) => PresentedClient {
            method: "both",
            id: None,
            secret: None,
        },
        (Some((id, secret)), None) => PresentedClient {
            method: "client_secret_basic",
            id: Some(id),
            secret: Some(secret),
        },
        (None, Some(secret)) => PresentedClient {
            method: "client_secret_post",
            id: form_id,
            secret: Some(secret),
        },
        (None, None) => PresentedClient {
            method: "none",
            id: form_id,
            secret: None,
        },
    })
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))`; `Ok(None)` for another scheme.
fn parse_basic(value: &HeaderValue) -> Result<Option<(String, String)>, String> {
    let Ok(value) = value.to_str() else {
        return Err("Authorization header is not ASCII".to_owned());
    };
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| "malformed Basic credentials".to_owned())?;
    let Some((id, secret)) = decoded.split_once(':') else {
        return Err("malformed Basic credentials".to_owned());
    };
    Ok(Some((form_decode(id), form_decode(secret))))
}

/// Undo `application/x-www-form-urlencoded` encoding of one component.
fn form_decode(component: &str) -> String {
    let plus_as_space = component.replace('+', " ");
    percent_encoding::percent_decode_str(&plus_as_space)
        .decode_utf8_lossy()
        .into_owned()
}

fn authenticate(
    settings: &super::OAuthServerOptions,
    client: &PresentedClient,
) -> Result<(), TokenError> {
    let method_allowed = match (settings.client_auth, client.method) {
        (_, "both") => {
            return Err(TokenError::Request(
                "invalid_request",
                "use only one client authentication method".to_owned(),
            ));
        }
        (_, "none") => {
            return Err(TokenError::Client(
                "client authentication is required".to_owned(),
            ));
        }
        (ClientAuth::Either, _) => true,
        (ClientAuth::Basic, method) => method == "client_secret_basic",
        (ClientAuth::Post, method) => method == "client_secret_post",
    };
    if !method_allowed {
        return Err(TokenError::Client(format!(
            "{} is not allowed for this client",
            client.method
        )));
    }
    let id_ok = client.id.as_deref() == Some(settings.client_id.as_str());
    let secret_ok = client.secret.as_deref() == Some(settings.client_secret.as_str());
    if !(id_ok && secret_ok) {
        return Err(TokenError::Client(
            "unknown client or wrong secret".to_owned(),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Token inspection: GET /userinfo, POST /introspect, POST /revoke

async fn userinfo(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
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

async fn introspect(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
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
async fn revoke(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
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

// ---------------------------------------------------------------------------------------------
// Discovery

async fn discovery(State(shared): State<Arc<Shared>>) -> Response {
    shared.stats.send_modify(|s| s.discovery_requests += 1);
    let issuer = &shared.issuer;
    let (client_auth, advertise_iss) = {
        let provider = shared.provider.lock();
        (
            provider.settings.client_auth,
            provider.settings.advertise_iss_support,
        )
    };
    let auth_methods: &[&str] = match client_auth {
        ClientAuth::Basic => &["client_secret_basic"],
        ClientAuth::Post => &["client_secret_post"],
        ClientAuth::Either => &["client_secret_basic", "client_secret_post"],
    };
    axum::Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "introspection_endpoint": format!("{issuer}/introspect"),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "authorization_response_iss_parameter_supported": advertise_iss,
    }))
    .into_response()
}

async fn jwks(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(shared.signer.jwks().clone()).into_response()
}
