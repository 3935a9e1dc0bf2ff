//! The broker's operations, independent of HTTP: resolve, connect, import, provider apply,
//! key rotation. The `api` modules parse requests, authenticate, and call these.
//!
//! - `resolve`: credentials for callers, re-authorization links;
//! - `connect`: the connect flow and its callback;
//! - `admin`: connections, providers and keys for operators.

mod admin;
mod connect;
mod resolve;

use crate::config::VaultConfig;
use crate::crypto::Aad;
use crate::error::VaultError;
use crate::oauth::{OAuthClient, OAuthError};
use crate::refresh::RefreshEngine;
use crate::store::Store;
use nexus_protocol::{Credentials, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

/// How long a reauthorization link stays valid.
const REAUTH_LINK_LIFETIME_MS: i64 = 7 * 24 * 3600 * 1000;

/// Who asked, for the audit log.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: String,
    pub request_id: Option<String>,
}

impl Caller {
    pub fn admin(request_id: Option<String>) -> Self {
        Self {
            principal: "admin".into(),
            request_id,
        }
    }
}

pub struct Service {
    pub config: VaultConfig,
    pub store: Store,
    pub oauth: Arc<OAuthClient>,
    pub refresh: RefreshEngine,
    /// Agent sessions: signing keys and trusted user-token issuers (see [`crate::identity`]).
    pub identity: crate::identity::Identity,
}

/// Body of `POST /admin/v1/workspaces/{ws}/connections/import`.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportRequest {
    pub provider_name: String,
    /// `api_key`, `refresh_token` or `credentials`.
    pub kind: String,
    /// A string, or for `credentials` an object of credential fields.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub secret: Value,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// Result of `POST /admin/v1/providers/apply`.
#[derive(Debug, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DriftReport {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
    pub pruned: Vec<String>,
    pub dry_run: bool,
}

#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RotateResponse {
    pub active_key_id: String,
    pub reencrypted: u64,
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

fn oauth_to_api(e: OAuthError) -> VaultError {
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

fn secret_string(v: &Value) -> Result<SecretString, VaultError> {
    match v {
        Value::String(s) if !s.is_empty() => Ok(SecretString::new(s.clone())),
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
            Value::String(_) | Value::Number(_) | Value::Bool(_) => c.insert(k.clone(), v.clone()),
            _ => {
                return Err(VaultError::invalid(format!(
                    "credential field `{k}` must be a string"
                )));
            }
        }
    }
    Ok(c)
}
