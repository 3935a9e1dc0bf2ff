//! The plain objects that cross the JavaScript boundary, and their conversions from the core's
//! types. `napi build` turns each `#[napi(object)]` into a TypeScript interface in
//! `native/index.d.ts`, which `src/native.ts` imports, so both sides are checked by the compiler.

use napi_derive::napi;
use nexus_sdk::{CachedToken, CheckConnectionResponse, RequestConnectionResponse};
use serde_json::{Map, Value};

/// A resolved credential (the core's `CachedToken`). Never holds a refresh token or a secret of
/// the provider's client.
#[napi(object)]
pub struct NativeCredential {
    pub access_token: Option<String>,
    pub token_type: String,
    /// RFC 3339; absent for credentials that never expire.
    pub expires_at: Option<String>,
    /// Whole seconds until expiry, now; absent for credentials that never expire.
    pub expires_in: Option<i64>,
    pub strategy_type: String,
    pub strategy_config: Map<String, Value>,
    pub credentials: Map<String, Value>,
    pub scopes: Vec<String>,
    pub api_base_url: Option<String>,
    pub connection_id: Option<String>,
    /// The core cache's identity of this token (see `CachedToken::generation`); 0 when the token
    /// did not come from the cache.
    pub generation: f64,
}

impl From<&CachedToken> for NativeCredential {
    fn from(token: &CachedToken) -> Self {
        let spec = token.strategy_spec();
        Self {
            access_token: token.access_token().map(str::to_owned),
            token_type: token.token_type().to_owned(),
            expires_at: token.expires_at_rfc3339(),
            expires_in: token
                .seconds_remaining()
                .map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
            strategy_type: spec.kind.clone(),
            strategy_config: spec.config.clone(),
            credentials: token
                .credentials()
                .0
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            scopes: token.scopes().to_vec(),
            api_base_url: token.api_base_url().map(str::to_owned),
            connection_id: token.connection_id().map(str::to_owned),
            // Exact below 2^53, i.e. for any number of cache fills a process will ever make.
            generation: token.generation() as f64,
        }
    }
}

/// An upstream request as the strategy engine needs it. `headers` are `[name, value]` pairs (what
/// iterating a `Headers` gives); `body` is the exact bytes that will be sent.
#[napi(object)]
pub struct NativeRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<napi::bindgen_prelude::Uint8Array>,
}

/// The request to send: the final URL and the complete header list (the caller's headers with
/// the injected ones added or replacing theirs).
#[napi(object)]
pub struct NativePrepared {
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// The cache generation of the token applied (see `NativeClient::prepare_retry`).
    pub generation: f64,
}

impl From<nexus_sdk::fetch::PreparedRequest> for NativePrepared {
    fn from(prepared: nexus_sdk::fetch::PreparedRequest) -> Self {
        Self {
            generation: prepared.token.generation() as f64,
            url: prepared.url,
            headers: prepared.headers,
        }
    }
}

/// Input of `requestConnection`. `metadataJson` is a JSON object as text (arbitrary JSON does not
/// have a typed napi shape).
#[napi(object)]
pub struct NativeConnectionInput {
    pub user_id: String,
    pub provider: String,
    pub scopes: Vec<String>,
    pub return_url: Option<String>,
    pub metadata_json: Option<String>,
}

#[napi(object)]
pub struct NativeConnectionRequest {
    pub auth_url: String,
    pub connection_id: String,
    pub state: String,
    pub scopes: Vec<String>,
    pub provider_id: String,
}

impl From<RequestConnectionResponse> for NativeConnectionRequest {
    fn from(r: RequestConnectionResponse) -> Self {
        Self {
            auth_url: r.auth_url,
            connection_id: r.connection_id,
            state: r.state,
            scopes: r.scopes,
            provider_id: r.provider_id,
        }
    }
}

#[napi(object)]
pub struct NativeConnectionState {
    /// `pending`, `active`, `needs_reauth`, `revoked` or `failed`.
    pub status: String,
    pub connection_id: Option<String>,
    pub provider_name: Option<String>,
    pub reauth_url: Option<String>,
}

impl From<CheckConnectionResponse> for NativeConnectionState {
    fn from(r: CheckConnectionResponse) -> Self {
        Self {
            status: r.status.as_str().to_owned(),
            connection_id: r.connection_id,
            provider_name: r.provider_name,
            reauth_url: r.reauth_url,
        }
    }
}
