//! Talking to providers: OIDC discovery, the token endpoint (code exchange and refresh) with
//! retry and back-off, and id_token validation against the provider's JWKS.
//!
//! Error messages carry the HTTP status and the OAuth `error` code only, never a response body
//! or a form field (either may echo a secret).

use crate::providers::{Provider, TokenAuthMethod};
use crate::store::connections::TokenSet;
use crate::store::now_ms;
use nexus_protocol::SecretString;
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long a discovery document or JWKS is reused before being fetched again.
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// A provider's `Retry-After` is honoured up to this long; beyond it the retry budget is spent.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum OAuthError {
    /// The provider refused the grant or the client (`invalid_grant`, `invalid_client`,
    /// `unauthorized_client`): only a person re-authorizing can fix it.
    #[error("provider rejected the grant: {0}")]
    Rejected(String),
    /// 429, 5xx, timeouts, connection failures: retried, then reported.
    #[error("provider unavailable: {0}")]
    Unavailable(String),
    /// An answer that breaks the protocol (HTML page, JSON without `access_token`, …).
    #[error("provider answered unexpectedly: {0}")]
    Protocol(String),
    /// The provider is not configured well enough for this operation.
    #[error("provider misconfigured: {0}")]
    Config(String),
    /// An id_token that does not validate.
    #[error("id_token invalid: {0}")]
    IdToken(String),
}

/// The endpoints a provider uses, after discovery.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub authorize: String,
    pub token: String,
    pub jwks: Option<String>,
    pub issuer: Option<String>,
    /// RFC 7009 token revocation endpoint (configured, else discovered), if any.
    pub revocation: Option<String>,
    /// RFC 9207: the provider's discovery says every authorization response carries `iss`, so
    /// a callback without it is refused.
    pub iss_required: bool,
}

#[derive(Debug, Clone, Deserialize)]
struct Discovery {
    issuer: Option<String>,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    jwks_uri: Option<String>,
    revocation_endpoint: Option<String>,
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}

/// A token endpoint's answer, parsed.
#[derive(Debug)]
pub struct TokenResponse {
    pub tokens: TokenSet,
    pub id_token: Option<String>,
}

pub struct OAuthClient {
    pub(crate) http: reqwest::Client,
    retries: u32,
    backoff: Duration,
    discovery: Mutex<HashMap<String, (Instant, Discovery)>>,
    jwks: Mutex<HashMap<String, (Instant, jsonwebtoken::jwk::JwkSet)>>,
}

impl OAuthClient {
    pub fn new(timeout: Duration, retries: u32, backoff: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            http,
            retries,
            backoff,
            discovery: Mutex::default(),
            jwks: Mutex::default(),
        }
    }

    /// The provider's endpoints: configured ones win; the rest come from OIDC discovery.
    pub async fn endpoints(&self, p: &Provider) -> Result<Endpoints, OAuthError> {
        let discovered = match (&p.issuer, p.enable_discovery) {
            (Some(issuer), true) => match self.discover(issuer).await {
                Ok(d) => Some(d),
                Err(e) => {
                    tracing::warn!(provider = %p.name, error = %e, "OIDC discovery failed");
                    None
                }
            },
            _ => None,
        };
        let pick = |configured: &Option<String>, found: Option<&Option<String>>| {
            configured.clone().or_else(|| found.and_then(Clone::clone))
        };
        let authorize = pick(
            &p.auth_url,
            discovered.as_ref().map(|d| &d.authorization_endpoint),
        )
        .ok_or_else(|| {
            OAuthError::Config("no authorization endpoint (discovery failed?)".into())
        })?;
        let token = pick(&p.token_url, discovered.as_ref().map(|d| &d.token_endpoint))
            .ok_or_else(|| OAuthError::Config("no token endpoint (discovery failed?)".into()))?;
        let jwks = discovered.as_ref().and_then(|d| d.jwks_uri.clone());
        let issuer = discovered
            .as_ref()
            .and_then(|d| d.issuer.clone())
            .or_else(|| p.issuer.clone());
        let revocation = pick(
            &p.revocation_url,
            discovered.as_ref().map(|d| &d.revocation_endpoint),
        );
        let iss_required = discovered
            .as_ref()
            .is_some_and(|d| d.authorization_response_iss_parameter_supported);
        Ok(Endpoints {
            authorize,
            token,
            jwks,
            issuer,
            revocation,
            iss_required,
        })
    }

    async fn discover(&self, issuer: &str) -> Result<Discovery, OAuthError> {
        if let Some((at, d)) = self.discovery.lock().get(issuer)
            && at.elapsed() < METADATA_TTL
        {
            return Ok(d.clone());
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| OAuthError::Unavailable(describe(&e)))?;
        if !resp.status().is_success() {
            return Err(OAuthError::Unavailable(format!(
                "discovery answered {}",
                resp.status().as_u16()
            )));
        }
        let d: Discovery = resp
            .json()
            .await
            .map_err(|_| OAuthError::Protocol("discovery document is not JSON".into()))?;
        self.discovery
            .lock()
            .insert(issuer.to_owned(), (Instant::now(), d.clone()));
        Ok(d)
    }

    /// Exchange an authorization code (with its PKCE verifier) for tokens.
    pub async fn exchange_code(
        &self,
        p: &Provider,
        secret: Option<&SecretString>,
        code: &str,
        verifier: Option<&SecretString>,
        redirect_uri: &str,
    ) -> Result<TokenResponse, OAuthError> {
        let mut form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.to_owned()),
            ("redirect_uri", redirect_uri.to_owned()),
        ];
        if let Some(v) = verifier {
            form.push(("code_verifier", v.expose().to_owned()));
        }
        self.token_request(p, secret, form).await
    }

    /// Use a refresh token.
    pub async fn refresh(
        &self,
        p: &Provider,
        secret: Option<&SecretString>,
        refresh_token: &SecretString,
    ) -> Result<TokenResponse, OAuthError> {
        let form = vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", refresh_token.expose().to_owned()),
        ];
        self.token_request(p, secret, form).await
    }

    /// Use a refresh token asking for fewer scopes (RFC 6749 §6 `scope`): the access token
    /// handed to a narrow agent session.
    pub async fn refresh_scoped(
        &self,
        p: &Provider,
        secret: Option<&SecretString>,
        refresh_token: &SecretString,
        scopes: &[String],
    ) -> Result<TokenResponse, OAuthError> {
        let form = vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", refresh_token.expose().to_owned()),
            ("scope", scopes.join(&p.scope_separator)),
        ];
        self.token_request(p, secret, form).await
    }

    async fn token_request(
        &self,
        p: &Provider,
        secret: Option<&SecretString>,
        mut form: Vec<(&'static str, String)>,
    ) -> Result<TokenResponse, OAuthError> {
        let endpoints = self.endpoints(p).await?;
        let client = ClientAuthentication::new(p, secret, &mut form);
        let mut attempt = 0;
        loop {
            let req = self
                .http
                .post(&endpoints.token)
                .header("Accept", "application/json")
                .form(&form);
            let req = client.apply(req);
            let outcome = match req.send().await {
                Ok(resp) => classify(p, resp).await,
                Err(e) => Attempt::Retry(describe(&e), None),
            };
            match outcome {
                Attempt::Done(result) => return result,
                Attempt::Retry(reason, retry_after) => {
                    if attempt >= self.retries {
                        return Err(OAuthError::Unavailable(reason));
                    }
                    let exp = self.backoff.saturating_mul(1 << attempt.min(10));
                    let jitter = Duration::from_millis(rand::random_range(
                        0..=exp.as_millis().min(1000) as u64 / 2,
                    ));
                    let wait = retry_after
                        .map(|r| r.min(MAX_RETRY_AFTER))
                        .unwrap_or(exp + jitter);
                    tracing::debug!(provider = %p.name, attempt, ?wait, %reason, "retrying token request");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
            }
        }
    }

    /// Validate an id_token: signature against the JWKS, `iss`, `aud` = client id, `exp`, and
    /// the `nonce` sent in the authorize request.
    pub async fn validate_id_token(
        &self,
        p: &Provider,
        id_token: &str,
        nonce: &str,
    ) -> Result<(), OAuthError> {
        let endpoints = self.endpoints(p).await?;
        let jwks_url = endpoints
            .jwks
            .ok_or_else(|| OAuthError::IdToken("provider publishes no jwks_uri".into()))?;
        let header = jsonwebtoken::decode_header(id_token)
            .map_err(|_| OAuthError::IdToken("malformed header".into()))?;
        let set = self.jwks(&jwks_url).await?;
        let jwk = match &header.kid {
            Some(kid) => set.find(kid),
            None => set.keys.first(),
        }
        .ok_or_else(|| OAuthError::IdToken("signing key not in JWKS".into()))?;
        let key = jsonwebtoken::DecodingKey::from_jwk(jwk)
            .map_err(|_| OAuthError::IdToken("unusable JWK".into()))?;
        let mut validation = jsonwebtoken::Validation::new(header.alg);
        validation.set_audience(&[p.client_id.clone().unwrap_or_default()]);
        if let Some(issuer) = &endpoints.issuer {
            validation.set_issuer(&[issuer]);
        }
        let data = jsonwebtoken::decode::<Value>(id_token, &key, &validation)
            .map_err(|e| OAuthError::IdToken(format!("{:?}", e.kind())))?;
        match data.claims.get("nonce").and_then(Value::as_str) {
            Some(n) if n == nonce => Ok(()),
            _ => Err(OAuthError::IdToken("nonce mismatch".into())),
        }
    }

    async fn jwks(&self, url: &str) -> Result<jsonwebtoken::jwk::JwkSet, OAuthError> {
        if let Some((at, set)) = self.jwks.lock().get(url)
            && at.elapsed() < METADATA_TTL
        {
            return Ok(set.clone());
        }
        let resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| OAuthError::Unavailable(describe(&e)))?;
        let set: jsonwebtoken::jwk::JwkSet = resp
            .json()
            .await
            .map_err(|_| OAuthError::Protocol("JWKS is not a JWK set".into()))?;
        self.jwks
            .lock()
            .insert(url.to_owned(), (Instant::now(), set.clone()));
        Ok(set)
    }
}

/// How the broker authenticates to the provider's token (and revocation) endpoint: the client
/// credentials in the form (`client_secret_post`, or a public client) or HTTP Basic.
pub(crate) struct ClientAuthentication {
    basic: Option<(String, String)>,
}

impl ClientAuthentication {
    /// Adds the form fields this method needs; [`Self::apply`] adds the header, if any.
    pub(crate) fn new(
        p: &Provider,
        secret: Option<&SecretString>,
        form: &mut Vec<(&'static str, String)>,
    ) -> Self {
        let client_id = p.client_id.clone().unwrap_or_default();
        match (p.token_endpoint_auth_method, secret) {
            (TokenAuthMethod::ClientSecretBasic, Some(s)) => Self {
                // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
                basic: Some((form_encode(&client_id), form_encode(s.expose()))),
            },
            _ => {
                form.push(("client_id", client_id));
                if let Some(s) = secret {
                    form.push(("client_secret", s.expose().to_owned()));
                }
                Self { basic: None }
            }
        }
    }

    pub(crate) fn apply(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.basic {
            Some((id, secret)) => req.basic_auth(id, Some(secret)),
            None => req,
        }
    }
}

enum Attempt {
    Done(Result<TokenResponse, OAuthError>),
    Retry(String, Option<Duration>),
}

/// Sort a token endpoint response into success, a final error, or a retry.
async fn classify(p: &Provider, resp: reqwest::Response) -> Attempt {
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = resp.bytes().await.unwrap_or_default();
    let json: Option<Value> = serde_json::from_slice(&body).ok();
    if status.as_u16() == 429 || status.is_server_error() {
        return Attempt::Retry(
            format!("token endpoint answered {}", status.as_u16()),
            retry_after,
        );
    }
    let Some(json) = json.filter(Value::is_object) else {
        return Attempt::Done(Err(OAuthError::Protocol(format!(
            "token endpoint answered {} without a JSON object",
            status.as_u16()
        ))));
    };
    if let Some(code) = json.get("error").and_then(Value::as_str) {
        return Attempt::Done(Err(match code {
            "invalid_grant" | "invalid_client" | "unauthorized_client" => {
                OAuthError::Rejected(code.to_owned())
            }
            "temporarily_unavailable" | "server_error" | "slow_down" => {
                return Attempt::Retry(format!("token endpoint error `{code}`"), retry_after);
            }
            other => OAuthError::Protocol(format!("token endpoint error `{}`", safe_code(other))),
        }));
    }
    if !status.is_success() {
        return Attempt::Done(Err(OAuthError::Protocol(format!(
            "token endpoint answered {}",
            status.as_u16()
        ))));
    }
    Attempt::Done(parse_tokens(p, &json))
}

fn parse_tokens(p: &Provider, json: &Value) -> Result<TokenResponse, OAuthError> {
    let text = |k: &str| {
        json.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let access = text("access_token")
        .ok_or_else(|| OAuthError::Protocol("token response has no access_token".into()))?;
    // `expires_in` may be a number or a numeric string; missing → the provider's default.
    let lifetime = match json.get(&p.expires_in_field) {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|s| *s > 0)
    .unwrap_or(p.default_expires_in as i64);
    let scopes = text("scope").map(|s| {
        s.split([' ', ','])
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect::<Vec<_>>()
    });
    Ok(TokenResponse {
        tokens: TokenSet {
            access_token: Some(SecretString::new(access)),
            refresh_token: text("refresh_token").map(SecretString::new),
            expires_at: Some(now_ms() + lifetime.saturating_mul(1000)),
            token_type: text("token_type"),
            scopes,
        },
        id_token: text("id_token"),
    })
}

/// An OAuth error code echoed into our messages: only the RFC 6749 charset, bounded.
pub(crate) fn safe_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect()
}

pub(crate) fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "token endpoint timed out".into()
    } else if e.is_connect() {
        "could not connect to the provider".into()
    } else {
        "request to the provider failed".into()
    }
}

/// RFC 6749 §2.3.1: each part of the HTTP Basic pair is form-urlencoded before base64.
fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// PKCE S256 challenge of a verifier.
pub fn pkce_challenge(verifier: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()))
}

/// A URL-safe random string of `bytes` random bytes (state, PKCE verifier, nonce).
pub fn random_token(bytes: usize) -> String {
    use base64::Engine;
    let raw: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}
