//! The provider's public endpoints: authorization, token, userinfo, introspection, revocation,
//! discovery and JWKS.
//!
//! - `mod.rs`: the router, form parsing shared by the endpoints, discovery and JWKS;
//! - `authorize.rs`: `GET /authorize`;
//! - `token.rs`: `POST /token` (grants, injected failures, counters);
//! - `client_auth.rs`: client authentication at the token endpoint (RFC 6749 §2.3.1);
//! - `inspection.rs`: `GET /userinfo`, `POST /introspect`, `POST /revoke`.

mod authorize;
mod client_auth;
mod inspection;
mod token;

use authorize::authorize;
use inspection::{introspect, revoke, userinfo};
use token::token;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::oauth::Shared;
use crate::oauth::options::ClientAuth;

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
pub(super) fn parse_params(raw: &[u8]) -> Result<HashMap<String, String>, String> {
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

pub(super) fn non_empty<'a>(params: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
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
