//! Agent identity: which agent asks, what it may do, for whom — and the record of it.
//!
//! - [`scopes`]: the scope algebra (mint grant, provider coverage, narrowing), pure functions.
//! - `mint`: creating sessions (`POST /v1/sessions`) and On-Behalf-Of exchanges (`/v1/token`).
//! - `verify`: session tokens → principals; status and revocation.
//! - `authorize`: `authorize` checks and the scope check of a session's resolve.
//! - `agents`: agents and trusted identity providers for operators.
//! - `proxy_rules`: a session's proxied call under a provider's `proxy.rules`.
//! - `sessions`: an agent's sessions for operators (list, revoke).
//! - [`signing`]: the session signing keys (ES256; private keys sealed by the vault) and JWKS.
//! - [`obo`]: verifying a user's JWT against the workspace's trusted issuers.
//! - [`idp_login`]: browser sign-in through those issuers (OpenID Connect code flow).
//! - [`audit`]: identity audit records (decision, reason, token fingerprint).
//!
//! Scopes are opaque strings the operator declares per agent (`crm:contacts:read`,
//! `acme:gliding`). Those of the form `provider:<name>[:<provider scope>]` also gate
//! resolving that provider and narrow the credential handed out.

mod agents;
pub mod audit;
mod authorize;
pub mod idp_login;
mod low_s;
mod mint;
pub mod obo;
mod proxy_rules;
mod refusals;
pub mod scopes;
mod sessions;
pub mod signing;
mod verify;

pub use agents::NewAgent;

use crate::audit::AuditService;
use crate::connections::ConnectionService;
use crate::error::VaultError;
use crate::store::Store;
use signing::Signer;
use std::sync::Arc;
use std::time::Duration;

/// Longest session lifetime an agent may be configured with (a day).
pub const MAX_SESSION_TTL_SECONDS: u64 = 24 * 3600;
/// Default `max_session_ttl_seconds` of an agent.
pub const DEFAULT_SESSION_TTL_SECONDS: u64 = 900;
/// The `aud` of every session token.
pub const SESSION_AUDIENCE: &str = "nexus";

/// Agents, sessions and On-Behalf-Of. Owns the signing keys and the cache of users' issuers'
/// keys; resolves for sessions through the [`ConnectionService`]. Built once by
/// [`crate::Vault`].
pub struct IdentityService {
    store: Store,
    signer: Arc<Signer>,
    /// Shared with the authorization server (ID-JAG issuers): one cache of IdP keys.
    trusted: Arc<obo::TrustedIssuers>,
    connections: Arc<ConnectionService>,
    audit: AuditService,
}

impl IdentityService {
    pub(crate) fn new(
        store: Store,
        connections: Arc<ConnectionService>,
        audit: AuditService,
        provider_timeout: Duration,
    ) -> Self {
        Self {
            store,
            signer: Arc::default(),
            trusted: Arc::new(obo::TrustedIssuers::new(provider_timeout)),
            connections,
            audit,
        }
    }

    /// `{"keys": [...]}`: the public keys session tokens are signed with.
    pub async fn jwks(&self) -> Result<serde_json::Value, VaultError> {
        self.signer.jwks(&self.store).await
    }

    /// The signing keys, shared with the authorization server (its access tokens are
    /// published in the same JWK set).
    pub(crate) fn signer(&self) -> Arc<Signer> {
        self.signer.clone()
    }

    /// The cache of the workspaces' identity providers' keys, shared with the authorization
    /// server (it verifies ID-JAGs with the same keys On-Behalf-Of uses).
    pub(crate) fn trusted_issuers(&self) -> Arc<obo::TrustedIssuers> {
        self.trusted.clone()
    }
}
