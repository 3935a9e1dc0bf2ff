//! Connections: everything between a workspace and its credential at a provider.
//!
//! - `resolve`: credentials for callers, and the sealed re-authorization links;
//! - `connect`: the connect flow (authorize URL or form) and its callback;
//! - `import`: importing and listing connections for operators;
//! - `revoke`: revoking a connection (store, audit, RFC 7009 at the provider);
//! - `refresh`: the refresh engine (one refresh per connection across processes);
//! - `health`: what refresh outcomes do to a connection's health, and the events they emit;
//! - `narrowing`: access tokens minted with fewer scopes for agent sessions;
//! - `links`: signed, single-use connect links; `page`: what the connect page shows and does;
//! - `disconnect` + `revocation`: disconnect with RFC 7009 revocation at the provider;
//! - `keep_alive`: the worker that refreshes idle connections of providers with a policy;
//! - `usage`: who resolved each connection recently (for the console).

mod connect;
pub mod disconnect;
mod for_user;
mod gates;
pub mod health;
mod import;
pub mod keep_alive;
pub mod links;
pub mod lookup_gate;
pub mod narrowing;
pub mod page;
pub mod refresh;
mod resolve;
pub mod revocation;
mod revoke;
mod usage;

pub use connect::{CaptureForm, Captured};
pub use import::ImportConnection;
pub use revoke::RevokeOutcome;

use crate::audit::AuditService;
use crate::config::VaultConfig;
use crate::crypto::Aad;
use crate::error::VaultError;
use crate::oauth::{OAuthClient, OAuthError};
use crate::store::{self, Store};
use narrowing::NarrowedTokens;
use nexus_protocol::{Credentials, SecretString};
use refresh::RefreshEngine;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// How long a reauthorization link stays valid.
const REAUTH_LINK_LIFETIME_MS: i64 = 7 * 24 * 3600 * 1000;

/// Resolve, connect, import and refresh connections. Built once by [`crate::Vault`].
pub struct ConnectionService {
    store: Store,
    oauth: Arc<OAuthClient>,
    refresh: RefreshEngine,
    narrowed: NarrowedTokens,
    /// Who resolved what recently (the console's "used by"), coalesced in memory.
    usage: usage::UsageRecorder,
    audit: AuditService,
    /// Base of the broker's browser routes (connect form, re-authorization links).
    public_url: String,
    redirect_uri: String,
    pending_lifetime: Duration,
    /// Bounds the resolve path's concurrent lookups (`NEXUS_DATABASE_LOOKUP_SLOTS`).
    lookups: lookup_gate::LookupGate,
    /// The lookup's own typed connections on PostgreSQL (`None`: the store's pool serves it).
    pg_lookup: Option<store::connections::pg_lookup::PgLookup>,
}

impl ConnectionService {
    pub(crate) fn new(
        config: &VaultConfig,
        store: Store,
        oauth: Arc<OAuthClient>,
        audit: AuditService,
    ) -> Self {
        let refresh = RefreshEngine::new(store.clone(), oauth.clone(), config.refresh_margin);
        let lookups = lookup_gate::LookupGate::configured(config.database_lookup_slots);
        let pg_lookup = (store.backend() == store::Backend::Postgres)
            .then(|| {
                store::connections::pg_lookup::PgLookup::for_url(
                    &config.database_url,
                    lookups.stats().size,
                )
            })
            .flatten();
        Self {
            store,
            oauth,
            refresh,
            narrowed: NarrowedTokens::default(),
            usage: Default::default(),
            audit,
            public_url: config.public_url.trim_end_matches('/').to_owned(),
            redirect_uri: config.redirect_uri(),
            pending_lifetime: config.pending_lifetime,
            pg_lookup,
            lookups,
        }
    }

    /// The gate of the resolve path's lookups (its size and what it has seen).
    pub fn lookup_gate(&self) -> &lookup_gate::LookupGate {
        &self.lookups
    }

    /// Write the uses still queued for the console's "used by" (they are otherwise written
    /// within a second). Call it when no more resolves will come: a graceful stop then loses
    /// none.
    pub async fn flush_usage(&self) {
        self.usage.flush(&self.store).await;
    }
}

impl ConnectionService {
    /// The one way a connection is created (connect flow, connect page, import): inserted, and
    /// when it is born `active` (it already has credentials) its `connection.created` event is
    /// emitted in the same transaction. A `pending` row gets its event when it is activated
    /// (`health::record_activation`).
    pub(crate) async fn create_connection(
        &self,
        new: store::connections::NewConnection<'_>,
    ) -> Result<store::connections::ConnectionRow, VaultError> {
        let active = new.status == nexus_protocol::ConnectionStatus::Active;
        let workspace_id = new.workspace_id;
        let mut tx = self.store.begin_locking().await?;
        let id = self.store.insert_connection_in(&mut tx, new).await?;
        if active {
            health::record_created(&self.store, &mut tx, workspace_id, &id).await?;
        }
        tx.commit().await.map_err(store::StoreError::from)?;
        Ok(self.store.connection_in(workspace_id, &id).await?)
    }
}

/// Where the callback sends the browser, or the page it shows when there is no `return_url`.
pub enum CallbackOutcome {
    Redirect(String),
    Page { ok: bool, message: String },
}

/// A sealed, self-contained reauthorization link payload.
#[derive(Serialize, Deserialize)]
struct ReauthLink {
    w: String,
    c: String,
    e: i64,
}

fn reauth_link_aad() -> Aad<'static> {
    Aad {
        table: "reauth_links",
        workspace: "-",
        row: "-",
        column: "token",
    }
}

/// Query of `GET /oauth/callback`.
#[derive(Debug, Default, Deserialize)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub iss: Option<String>,
}

fn connection_not_found() -> VaultError {
    VaultError::connection_not_found("connection not found")
}

fn oauth_failure(e: OAuthError) -> VaultError {
    VaultError::upstream(e.to_string())
}

/// `bearer` → `Bearer` (providers disagree on case; clients compare exactly).
fn normalize_token_type(t: String) -> String {
    if t.eq_ignore_ascii_case("bearer") {
        "Bearer".into()
    } else {
        t
    }
}

fn check_return_url(url: &str) -> Result<(), VaultError> {
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        _ => Err(VaultError::invalid(
            "`return_url` must be an absolute http(s) URL",
        )),
    }
}

/// The refusal of a credential value with a control character (never quoting the value).
pub(crate) fn check_storable(field: &str, value: &str) -> Result<(), VaultError> {
    if nexus_protocol::is_storable_credential(value) {
        Ok(())
    } else {
        Err(VaultError::invalid(format!(
            "credential `{field}` contains a control character (CR, LF, NUL, TAB or another); \
             credentials must be single-line printable text"
        )))
    }
}

fn secret_string(v: &Value) -> Result<SecretString, VaultError> {
    match v {
        Value::String(s) if !s.is_empty() => {
            check_storable("secret", s)?;
            Ok(SecretString::new(s.clone()))
        }
        _ => Err(VaultError::invalid(
            "`secret` must be a non-empty string for this kind",
        )),
    }
}

fn credentials_object(v: &Value) -> Result<Credentials, VaultError> {
    let Value::Object(map) = v else {
        return Err(VaultError::invalid(
            "`secret` must be an object of credential fields for kind `credentials`",
        ));
    };
    let mut c = Credentials::default();
    for (k, v) in map {
        match v {
            Value::String(text) => {
                check_storable(k, text)?;
                c.insert(k.clone(), v.clone());
            }
            Value::Number(_) | Value::Bool(_) => c.insert(k.clone(), v.clone()),
            _ => {
                return Err(VaultError::invalid(format!(
                    "credential field `{k}` must be a string"
                )));
            }
        }
    }
    Ok(c)
}
