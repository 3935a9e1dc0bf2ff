//! Nexus as the OAuth 2.1 authorization server of remote MCP servers (issue 17, design 17).
//!
//! - [`metadata`]: the RFC 8414 document;
//! - [`resources`]: MCP resources of a workspace and Rule R (how `resource` values compare);
//! - [`redirect_uri`]: which redirect URIs a client may register, and exact matching;
//! - [`clients`]: who a `client_id` is (Client ID Metadata Documents, RFC 7591 registration)
//!   and client authentication at the token and revocation endpoints;
//! - [`authorize`]: `/as/authorize` → login → consent (`consent`) → code (pages are the
//!   broker's);
//! - [`client_agent`] and `delegation`: binding a client to an agent (`act`), and the rules
//!   that binding imposes whenever tokens are issued (agent enabled, scopes within its own);
//! - [`login`]: the local development login of `nexus dev` and login sessions;
//! - [`grants`]: the token endpoint (authorization code with PKCE, rotating refresh tokens,
//!   the RFC 7523 JWT-bearer grant for ID-JAGs of enterprise identity providers);
//! - [`access_token`]: RFC 9068 JWTs signed with the session signing keys;
//! - [`revocation`]: RFC 7009.
//!
//! No HTTP server here: the broker's `api::authorization_server` parses requests, calls this
//! service and renders its answers (JSON, redirects, pages).

pub mod access_token;
pub mod authorize;
pub mod client_agent;
pub mod clients;
mod consent;
mod delegation;
pub mod grants;
pub mod login;
pub mod metadata;
pub mod redirect_uri;
pub mod resources;
pub mod revocation;

use crate::audit::AuditService;
use crate::identity::obo::TrustedIssuers;
use crate::identity::signing::Signer;
use crate::store::{Store, StoreError};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nexus_protocol::SecretString;
use nexus_protocol::oauth::OAuthErrorCode;
use std::sync::Arc;
use std::time::Duration;

/// The operator's settings of the authorization server.
#[derive(Debug, Clone)]
pub struct AsConfig {
    /// The issuer (`NEXUS_AS_ISSUER`); `None` = the broker's public URL. Never taken from a
    /// request's `Host` (mix-up defence).
    pub issuer: Option<String>,
    /// RFC 7591 open registration (`NEXUS_AS_DCR=open|off`, default open).
    pub registration_open: bool,
    /// Fetch Client ID Metadata Documents from loopback addresses (and over `http` there).
    /// Only honoured when the issuer itself is on loopback (tests, `nexus dev`).
    pub cimd_allow_loopback: bool,
    /// The password of the local development login; `None` = no such login (production).
    pub dev_login_password: Option<SecretString>,
    /// Largest Client ID Metadata Document accepted.
    pub cimd_max_bytes: usize,
    /// Whole-fetch deadline of a Client ID Metadata Document.
    pub cimd_timeout: Duration,
    /// Open registrations accepted per source address and minute.
    pub registrations_per_minute: u32,
}

impl Default for AsConfig {
    fn default() -> Self {
        Self {
            issuer: None,
            registration_open: true,
            cimd_allow_loopback: false,
            dev_login_password: None,
            cimd_max_bytes: 5 * 1024,
            cimd_timeout: Duration::from_secs(5),
            registrations_per_minute: 5,
        }
    }
}

/// A refusal in OAuth's terms. `description` is fixed text or names a parameter, never a
/// presented value (codes, tokens, secrets, verifiers).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct AuthorizationError {
    pub code: OAuthErrorCode,
    pub description: String,
}

impl AuthorizationError {
    pub fn new(code: OAuthErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(OAuthErrorCode::InvalidRequest, description)
    }
    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(OAuthErrorCode::InvalidGrant, description)
    }
    pub fn invalid_client(description: impl Into<String>) -> Self {
        Self::new(OAuthErrorCode::InvalidClient, description)
    }
}

impl From<StoreError> for AuthorizationError {
    fn from(e: StoreError) -> Self {
        if let StoreError::AuditNotWritten(why) = &e {
            // Fail closed, retryable: no token without its durable record (issue 20).
            tracing::error!(error = %why, "audit record not written: no token issued");
            return Self::new(
                OAuthErrorCode::TemporarilyUnavailable,
                crate::error::AUDIT_UNAVAILABLE,
            );
        }
        tracing::error!(error = %e, "authorization server: store failure");
        Self::new(
            OAuthErrorCode::ServerError,
            "internal error; see the broker log",
        )
    }
}

impl From<crate::VaultError> for AuthorizationError {
    fn from(e: crate::VaultError) -> Self {
        tracing::error!(error = %e, "authorization server: failure");
        Self::new(
            OAuthErrorCode::ServerError,
            "internal error; see the broker log",
        )
    }
}

/// The authorization server. Built once by [`crate::Vault`].
pub struct AuthorizationServerService {
    store: Store,
    signer: Arc<Signer>,
    /// The identity providers' keys (shared with On-Behalf-Of): ID-JAG signatures.
    trusted: Arc<TrustedIssuers>,
    /// Kept for admin-side records; grant events are written through the store directly.
    #[allow(dead_code)]
    audit: AuditService,
    issuer: String,
    config: AsConfig,
}

/// Why the authorization server's settings cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("authorization server: {0}")]
pub struct AsConfigError(pub String);

impl AuthorizationServerService {
    pub(crate) fn new(
        store: Store,
        signer: Arc<Signer>,
        trusted: Arc<TrustedIssuers>,
        audit: AuditService,
        public_url: &str,
        config: AsConfig,
    ) -> Result<Self, AsConfigError> {
        let issuer = config
            .issuer
            .clone()
            .unwrap_or_else(|| public_url.to_owned())
            .trim_end_matches('/')
            .to_owned();
        let parsed = url::Url::parse(&issuer)
            .map_err(|_| AsConfigError(format!("issuer {issuer:?} is not a URL")))?;
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(AsConfigError("the issuer has no query or fragment".into()));
        }
        let loopback_issuer = clients::cimd_fetch::is_loopback_host(&parsed);
        if config.cimd_allow_loopback && !loopback_issuer {
            return Err(AsConfigError(
                "NEXUS_AS_CIMD_ALLOW_LOOPBACK needs a loopback issuer (tests and nexus dev only)"
                    .into(),
            ));
        }
        if config.dev_login_password.is_some() && !loopback_issuer {
            return Err(AsConfigError(
                "the development login needs a loopback issuer (nexus dev only)".into(),
            ));
        }
        Ok(Self {
            store,
            signer,
            trusted,
            audit,
            issuer,
            config,
        })
    }

    /// The issuer identifier (no trailing slash).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn config(&self) -> &AsConfig {
        &self.config
    }

    /// Record a grant event in the workspace's audit chain: `action` (`oauth.token`,
    /// `oauth.code_reuse`, `oauth.refresh_reuse`, `oauth.revoke`) on a family, by a client.
    /// Never a token, code or secret: the family id and the client id only.
    /// Returns the failure when the record cannot be written: a grant that issues tokens
    /// answers only once recorded (issue 20).
    pub(crate) async fn audit_family(
        &self,
        action: &str,
        family_id: &str,
        outcome: &str,
    ) -> Result<(), StoreError> {
        let Some(family) = self.store.token_family(family_id).await? else {
            return Ok(());
        };
        let detail = format!("user={} resource={}", family.user_id, family.resource_id);
        self.store
            .audit_required(crate::store::audit::AuditEvent {
                workspace_id: Some(&family.workspace_id),
                action,
                target: Some(family_id),
                principal: &family.client_id,
                outcome,
                request_id: None,
                detail: Some(&detail),
            })
            .await
    }

    /// Record an issued grant (`oauth.token`) with its grant type and, for an ID-JAG, the
    /// identity provider that vouched for the user. Never a token or an assertion.
    pub(crate) async fn audit_grant(
        &self,
        family: &crate::store::oauth_grants::FamilyRow,
        grant_type: &str,
        idp_issuer: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut detail = format!(
            "grant={grant_type} user={} resource={}",
            family.user_id, family.resource_id
        );
        if let Some(idp) = idp_issuer {
            detail.push_str(&format!(" idp={idp}"));
        }
        self.store
            .audit_required(crate::store::audit::AuditEvent {
                workspace_id: Some(&family.workspace_id),
                action: "oauth.token",
                target: Some(&family.id),
                principal: &family.client_id,
                outcome: "ok",
                request_id: None,
                detail: Some(&detail),
            })
            .await
    }

    /// `{"keys": [...]}`: the same keys as the session tokens'.
    pub async fn jwks(&self) -> Result<serde_json::Value, crate::VaultError> {
        self.signer.jwks(&self.store).await
    }
}

/// 32 random bytes, base64url: codes, refresh tokens, request ids, CSRF tokens, cookies.
pub(crate) fn random_secret() -> SecretString {
    SecretString::new(URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>()))
}

/// `prefix` + 16 hex: ids that are not secrets.
pub(crate) fn random_id(prefix: &str) -> String {
    format!("{prefix}{}", hex::encode(rand::random::<[u8; 8]>()))
}
