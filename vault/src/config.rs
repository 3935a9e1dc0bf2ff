//! The vault's settings: the database, the keys, the public URL the connect flow redirects
//! through, and the tuning of provider calls and refreshes.

use crate::crypto::{CryptoError, Keyring};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct VaultConfig {
    /// `sqlite://PATH?mode=rwc` or `postgres://…`.
    pub database_url: String,
    /// Keys used to seal secrets at rest. `None` means "load from `master_key_file`".
    pub keyring: Option<Keyring>,
    /// A keyring file; rotation writes new keys here.
    pub master_key_file: Option<PathBuf>,
    /// Public base URL of the broker; the OAuth redirect URI is `{public_url}/oauth/callback`.
    pub public_url: String,
    /// The OAuth redirect URI when it is not `{public_url}/oauth/callback` (a gateway's
    /// `/auth/callback` that relays to it).
    pub oauth_redirect_uri: Option<String>,
    /// Declarative providers file applied at start-up (no pruning).
    pub providers_file: Option<PathBuf>,
    /// Refresh an access token when it expires within this margin (plus jitter).
    pub refresh_margin: Duration,
    /// Timeout of each HTTP request to a provider.
    pub provider_timeout: Duration,
    /// How many times a transient provider failure (429, 5xx, timeout) is retried.
    pub provider_retries: u32,
    /// First back-off delay; doubles each retry.
    pub provider_backoff: Duration,
    /// Lifetime of a pending authorization (`state`).
    pub pending_lifetime: Duration,
    /// The OAuth authorization server for MCP servers.
    pub authorization_server: crate::authorization_server::AsConfig,
    /// How webhooks are delivered (and which endpoint URLs are allowed).
    pub webhooks: crate::webhooks::WebhookConfig,
    /// Most database connections in the pool; `None`: [`crate::store::Store::connect`]'s
    /// default.
    pub database_max_connections: Option<u32>,
    /// Most resolve-path lookups in flight at once; `None`: 4 × cores, at least 8
    /// ([`crate::connections::lookup_gate::LookupGate::default_size`]).
    pub database_lookup_slots: Option<u32>,
}

impl VaultConfig {
    /// The keyring to start with: the configured one, else the key file.
    pub fn load_keyring(&self) -> Result<Keyring, CryptoError> {
        match (&self.keyring, &self.master_key_file) {
            (Some(ring), Some(path)) if path.exists() => {
                // Both given: the file may hold newer keys written by a rotation.
                let mut ring = ring.clone();
                ring.merge(Keyring::load_file(path)?);
                Ok(ring)
            }
            (Some(ring), _) => Ok(ring.clone()),
            (None, Some(path)) => Keyring::load_file(path),
            (None, None) => Err(CryptoError::NoKey),
        }
    }

    pub fn redirect_uri(&self) -> String {
        match &self.oauth_redirect_uri {
            Some(uri) => uri.clone(),
            None => format!("{}/oauth/callback", self.public_url.trim_end_matches('/')),
        }
    }
}
