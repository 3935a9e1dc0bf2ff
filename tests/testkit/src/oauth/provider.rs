//! The provider's memory: registered client settings, authorization codes, access and refresh
//! tokens, and the rules that connect them. Pure synchronous logic; the HTTP layer
//! (`routes/`) parses requests and renders responses around it.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::failure::Failure;
use super::options::OAuthServerOptions;
use super::stats::TokenRequestRecord;

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

    /// Remember an approved authorization request and return its one-time code.
    pub(crate) fn issue_code(
        &mut self,
        redirect_uri: String,
        code_challenge: String,
        scopes: Vec<String>,
        nonce: Option<String>,
    ) -> String {
        let code = random_token("code_");
        let grant_id = self.new_grant_id();
        let pending = PendingCode {
            redirect_uri,
            code_challenge,
            scopes,
            nonce,
            issued_at: SystemTime::now(),
            grant_id,
            redeemed: false,
        };
        self.codes.insert(code.clone(), pending);
        code
    }

    /// `grant_type=authorization_code`, after client authentication.
    pub(crate) fn redeem_code(
        &mut self,
        code: &str,
        redirect_uri: Option<&str>,
        code_verifier: Option<&str>,
        with_refresh_token: bool,
    ) -> Result<Issued, GrantError> {
        let Some(pending) = self.codes.get_mut(code) else {
            return Err(GrantError::new(
                "invalid_grant",
                "unknown authorization code",
            ));
        };
        if pending.redeemed {
            // RFC 6749 §4.1.2: a reused code should revoke what it produced.
            let grant_id = pending.grant_id;
            self.revoke_grant(grant_id);
            return Err(GrantError::new(
                "invalid_grant",
                "authorization code already used",
            ));
        }
        let expired = pending
            .issued_at
            .elapsed()
            .map(|age| age > CODE_LIFETIME)
            .unwrap_or(false);
        if expired {
            return Err(GrantError::new(
                "invalid_grant",
                "authorization code expired",
            ));
        }
        if redirect_uri != Some(pending.redirect_uri.as_str()) {
            return Err(GrantError::new(
                "invalid_grant",
                "redirect_uri does not match the authorization request",
            ));
        }
        let Some(verifier) = code_verifier else {
            return Err(GrantError::new(
                "invalid_grant",
                "code_verifier is required (PKCE)",
            ));
        };
        if !verifier_syntax_ok(verifier) {
            return Err(GrantError::new(
                "invalid_grant",
                "code_verifier must be 43-128 unreserved characters",
            ));
        }
        if pkce_s256(verifier) != pending.code_challenge {
            return Err(GrantError::new(
                "invalid_grant",
                "code_verifier does not match code_challenge",
            ));
        }
        // Only a successful redemption uses the code up, so a client can retry after its own
        // mistake; a second successful redemption is the reuse handled above.
        pending.redeemed = true;
        let (scopes, nonce, grant_id) = (
            pending.scopes.clone(),
            pending.nonce.clone(),
            pending.grant_id,
        );
        let mut issued = self.issue(grant_id, scopes, with_refresh_token);
        issued.nonce = nonce;
        Ok(issued)
    }

    /// `grant_type=refresh_token`, after client authentication. `rotate` is false only when an
    /// injected failure simulates a provider that keeps the same refresh token.
    pub(crate) fn refresh(
        &mut self,
        refresh_token: &str,
        requested_scope: Option<&str>,
        rotate: bool,
    ) -> Result<Issued, GrantError> {
        let client_id = self.settings.client_id.clone();
        let Some(stored) = self.refresh_tokens.get_mut(refresh_token) else {
            return Err(GrantError::new("invalid_grant", "unknown refresh token"));
        };
        match stored.state {
            RefreshState::Active => {}
            RefreshState::Rotated => {
                let grant_id = stored.grant_id;
                if self.settings.reuse_revokes_grant {
                    self.revoke_grant(grant_id);
                }
                return Err(GrantError {
                    reuse_detected: true,
                    ..GrantError::new("invalid_grant", "refresh token was already used (rotated)")
                });
            }
            RefreshState::Revoked => {
                return Err(GrantError::new(
                    "invalid_grant",
                    "refresh token was revoked",
                ));
            }
        }
        if stored.client_id != client_id {
            return Err(GrantError::new(
                "invalid_grant",
                "refresh token was issued to another client",
            ));
        }
        let granted = stored.scopes.clone();
        let scopes = narrowed_scopes(&granted, requested_scope)?;
        let grant_id = stored.grant_id;
        if rotate {
            stored.state = RefreshState::Rotated;
        }
        let mut issued = self.issue_access(grant_id, scopes);
        if rotate {
            issued.refresh_token = Some(self.issue_refresh(grant_id, granted));
        }
        Ok(issued)
    }

    /// `grant_type=client_credentials`: an access token only, for the requested scopes.
    pub(crate) fn client_credentials(&mut self, requested_scope: Option<&str>) -> Issued {
        let scopes = self.grantable(requested_scope.map(parse_scopes).unwrap_or_default());
        let grant_id = self.new_grant_id();
        self.issue(grant_id, scopes, false)
    }

    /// Seed a connection without the browser dance (test helper).
    pub(crate) fn issue_directly(&mut self, scopes: Vec<String>) -> Issued {
        let grant_id = self.new_grant_id();
        self.issue(grant_id, scopes, true)
    }

    pub(crate) fn introspect(&self, token: &str) -> Introspection {
        let sub = Some(self.settings.subject.clone());
        if let Some(access) = self.access_tokens.get(token) {
            return Introspection {
                active: !access.revoked && access.expires_at > SystemTime::now(),
                scope: Some(access.scopes.join(" ")),
                client_id: Some(access.client_id.clone()),
                sub,
                exp: Some(unix_seconds(access.expires_at)),
                token_type: Some("access_token".to_owned()),
            };
        }
        if let Some(refresh) = self.refresh_tokens.get(token) {
            return Introspection {
                active: refresh.state == RefreshState::Active,
                scope: Some(refresh.scopes.join(" ")),
                client_id: Some(refresh.client_id.clone()),
                sub,
                exp: None,
                token_type: Some("refresh_token".to_owned()),
            };
        }
        Introspection::inactive()
    }

    /// Make one access token expired. Returns whether the token was known.
    pub(crate) fn expire_access_token(&mut self, token: &str) -> bool {
        match self.access_tokens.get_mut(token) {
            Some(access) => {
                access.expires_at = UNIX_EPOCH;
                true
            }
            None => false,
        }
    }

    /// Make every access token expired. Returns how many there were.
    pub(crate) fn expire_all_access_tokens(&mut self) -> usize {
        for access in self.access_tokens.values_mut() {
            access.expires_at = UNIX_EPOCH;
        }
        self.access_tokens.len()
    }

    /// Revoke one token of either kind (RFC 7009). Returns whether it was known.
    pub(crate) fn revoke_token(&mut self, token: &str) -> bool {
        if let Some(access) = self.access_tokens.get_mut(token) {
            access.revoked = true;
            return true;
        }
        if let Some(refresh) = self.refresh_tokens.get_mut(token) {
            refresh.state = RefreshState::Revoked;
            return true;
        }
        false
    }

    /// Revoke every access token issued so far, before its expiry, and keep the refresh tokens
    /// (provider-side early revocation: a password change, an admin action). Introspection
    /// reports them inactive, so an echo gated on [`crate::Requirement::OauthToken`] answers 401,
    /// while a refresh still issues a new, active access token. Returns how many were live.
    pub(crate) fn revoke_access_tokens(&mut self) -> usize {
        let now = SystemTime::now();
        let mut count = 0;
        for access in self.access_tokens.values_mut() {
            count += usize::from(!access.revoked && access.expires_at > now);
            access.revoked = true;
        }
        count
    }

    /// Revoke every token (the user disconnected the app at the provider). Returns how many
    /// tokens were still usable (unexpired access tokens, unrotated refresh tokens).
    pub(crate) fn revoke_all(&mut self) -> usize {
        let now = SystemTime::now();
        let mut count = 0;
        for access in self.access_tokens.values_mut() {
            count += usize::from(!access.revoked && access.expires_at > now);
            access.revoked = true;
        }
        for refresh in self.refresh_tokens.values_mut() {
            count += usize::from(refresh.state == RefreshState::Active);
            refresh.state = RefreshState::Revoked;
        }
        count
    }

    fn revoke_grant(&mut self, grant_id: u64) {
        for access in self
            .access_tokens
            .values_mut()
            .filter(|a| a.grant_id == grant_id)
        {
            access.revoked = true;
        }
        for refresh in self
            .refresh_tokens
            .values_mut()
            .filter(|r| r.grant_id == grant_id)
        {
            refresh.state = RefreshState::Revoked;
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
