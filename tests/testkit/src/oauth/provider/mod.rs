//! The provider's memory: registered client settings, authorization codes, access and refresh
//! tokens, and the rules that connect them. Pure synchronous logic; the HTTP layer
//! (`routes/`) parses requests and renders responses around it.
//!
//! Files: `mod.rs` the records and the provider's state, token issuing and the pure helpers;
//! `grants.rs` the grants (authorization code, refresh, client credentials); `token_state.rs`
//! introspection, expiry and revocation.

mod grants;
mod token_state;

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::oauth::failure::Failure;
use crate::oauth::options::OAuthServerOptions;
use crate::oauth::stats::TokenRequestRecord;

/// How long an authorization code can be redeemed (RFC 6749 §4.1.2 recommends at most 10 min).
const CODE_LIFETIME: Duration = Duration::from_secs(600);

/// Longer TTLs (settable over HTTP) are clamped, so expiry arithmetic cannot overflow.
const MAX_ACCESS_TOKEN_TTL: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// A grant-level error of the token endpoint (RFC 6749 §5.2), answered with status 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GrantError {
    pub error: &'static str,
    pub description: String,
    /// A rotated refresh token was presented again (counted separately in the stats).
    pub reuse_detected: bool,
}

impl GrantError {
    fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            error,
            description: description.into(),
            reuse_detected: false,
        }
    }
}

/// What an authorization code remembers until it is redeemed.
struct PendingCode {
    redirect_uri: String,
    code_challenge: String,
    scopes: Vec<String>,
    nonce: Option<String>,
    issued_at: SystemTime,
    grant_id: u64,
    redeemed: bool,
}

struct AccessToken {
    client_id: String,
    scopes: Vec<String>,
    expires_at: SystemTime,
    revoked: bool,
    grant_id: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RefreshState {
    Active,
    /// Replaced by a newer refresh token; presenting it again is reuse.
    Rotated,
    Revoked,
}

struct RefreshToken {
    client_id: String,
    /// The scopes of the original grant. Narrowing on refresh affects only the access token; the
    /// refresh token keeps the full grant (RFC 6749 §6).
    scopes: Vec<String>,
    grant_id: u64,
    state: RefreshState,
}

/// Tokens handed out by one successful grant.
#[derive(Clone)]
pub(crate) struct Issued {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub scopes: Vec<String>,
    pub expires_in: u64,
    /// The OIDC nonce of the authorization request, echoed in the ID token.
    pub nonce: Option<String>,
}

/// What the introspection endpoint (and `OAuthServer::introspect`) reports about a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Introspection {
    /// The token is known, unexpired and not revoked (or, for refresh tokens, not rotated).
    pub active: bool,
    /// Space-separated scopes (absent for unknown tokens).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sub: Option<String>,
    /// Expiry of an access token, seconds since the Unix epoch.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub exp: Option<u64>,
    /// `access_token` or `refresh_token` (RFC 7009 hint names).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub token_type: Option<String>,
}

impl Introspection {
    fn inactive() -> Self {
        Self {
            active: false,
            scope: None,
            client_id: None,
            sub: None,
            exp: None,
            token_type: None,
        }
    }
}

/// The whole mutable state of one fake provider, behind one lock. (No `Debug`: it holds
/// tokens, and a stray `{:?}` must not print them.)
pub(crate) struct Provider {
    pub settings: OAuthServerOptions,
    pub failures: VecDeque<Failure>,
    pub log: Vec<TokenRequestRecord>,
    codes: HashMap<String, PendingCode>,
    access_tokens: HashMap<String, AccessToken>,
    refresh_tokens: HashMap<String, RefreshToken>,
    next_grant_id: u64,
}

impl Provider {
    pub(crate) fn new(settings: OAuthServerOptions) -> Self {
        Self {
            settings,
            failures: VecDeque::new(),
            log: Vec::new(),
            codes: HashMap::new(),
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            next_grant_id: 1,
        }
    }

    /// Whether `uri` may be used as a redirect URI by the client.
    pub(crate) fn redirect_uri_allowed(&self, uri: &str) -> bool {
        if self.settings.redirect_uris.is_empty() {
            return url::Url::parse(uri)
                .map(|url| matches!(url.scheme(), "http" | "https") && url.fragment().is_none())
                .unwrap_or(false);
        }
        self.settings
            .redirect_uris
            .iter()
            .any(|registered| registered == uri)
    }

    /// The scopes actually granted for a request (a consent page where some boxes are unticked).
    pub(crate) fn grantable(&self, requested: Vec<String>) -> Vec<String> {
        match &self.settings.grantable_scopes {
            None => requested,
            Some(allowed) => requested
                .into_iter()
                .filter(|s| allowed.contains(s))
                .collect(),
        }
    }

    fn issue(&mut self, grant_id: u64, scopes: Vec<String>, with_refresh_token: bool) -> Issued {
        let mut issued = self.issue_access(grant_id, scopes.clone());
        if with_refresh_token {
            issued.refresh_token = Some(self.issue_refresh(grant_id, scopes));
        }
        issued
    }

    fn issue_access(&mut self, grant_id: u64, scopes: Vec<String>) -> Issued {
        let token = random_token("at_");
        let ttl = self.settings.access_token_ttl.min(MAX_ACCESS_TOKEN_TTL);
        let access = AccessToken {
            client_id: self.settings.client_id.clone(),
            scopes: scopes.clone(),
            expires_at: SystemTime::now() + ttl,
            revoked: false,
            grant_id,
        };
        self.access_tokens.insert(token.clone(), access);
        Issued {
            access_token: token,
            refresh_token: None,
            scopes,
            expires_in: ttl.as_secs(),
            nonce: None,
        }
    }

    fn issue_refresh(&mut self, grant_id: u64, scopes: Vec<String>) -> String {
        let token = random_token("rt_");
        let refresh = RefreshToken {
            client_id: self.settings.client_id.clone(),
            scopes,
            grant_id,
            state: RefreshState::Active,
        };
        self.refresh_tokens.insert(token.clone(), refresh);
        token
    }

    fn new_grant_id(&mut self) -> u64 {
        let id = self.next_grant_id;
        self.next_grant_id += 1;
        id
    }
}

/// The scopes of an access token issued by refresh: the whole grant, or the requested subset
/// (RFC 6749 §6: asking for a scope not granted is `invalid_scope`).
fn narrowed_scopes(granted: &[String], requested: Option<&str>) -> Result<Vec<String>, GrantError> {
    let Some(requested) = requested else {
        return Ok(granted.to_vec());
    };
    let requested = parse_scopes(requested);
    match requested.iter().find(|s| !granted.contains(s)) {
        Some(extra) => Err(GrantError::new(
            "invalid_scope",
            format!("scope {extra:?} was not granted to this refresh token"),
        )),
        None => Ok(requested),
    }
}

/// Split a space-separated `scope` value, dropping empties and duplicates, keeping order.
pub(crate) fn parse_scopes(scope: &str) -> Vec<String> {
    let mut scopes: Vec<String> = Vec::new();
    for scope in scope.split(' ').filter(|s| !s.is_empty()) {
        if !scopes.iter().any(|known| known == scope) {
            scopes.push(scope.to_owned());
        }
    }
    scopes
}

/// The S256 code challenge of a verifier (RFC 7636 §4.2).
pub fn pkce_s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// RFC 7636 §4.1: 43 to 128 characters from the unreserved set.
fn verifier_syntax_ok(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// An opaque random token with a readable prefix (`at_`, `rt_`, `code_`), 256 bits of entropy.
pub(crate) fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

pub(crate) fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_matches_the_rfc_7636_example() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(
            pkce_s256(verifier),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(verifier_syntax_ok(verifier));
        assert!(!verifier_syntax_ok("short"));
        assert!(!verifier_syntax_ok(&"a".repeat(129)));
        assert!(!verifier_syntax_ok(&format!("{}+", "a".repeat(50))));
    }

    #[test]
    fn scopes_split_on_spaces_without_empties_or_duplicates() {
        assert_eq!(parse_scopes("  read write  read "), ["read", "write"]);
        assert!(parse_scopes("").is_empty());
    }

    #[test]
    fn tokens_are_prefixed_and_unique() {
        let (a, b) = (random_token("at_"), random_token("at_"));
        assert!(a.starts_with("at_") && a.len() == 3 + 43);
        assert_ne!(a, b);
    }

    #[test]
    fn only_absolute_http_redirect_uris_are_accepted_when_none_are_registered() {
        let provider = Provider::new(OAuthServerOptions::default());
        assert!(provider.redirect_uri_allowed("http://127.0.0.1:8080/callback"));
        assert!(provider.redirect_uri_allowed("https://app.example/cb?x=1"));
        assert!(!provider.redirect_uri_allowed("/relative"));
        assert!(!provider.redirect_uri_allowed("javascript:alert(1)"));
        assert!(!provider.redirect_uri_allowed("https://app.example/cb#frag"));
    }
}
