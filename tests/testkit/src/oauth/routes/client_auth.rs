//! Client authentication at the token endpoint (RFC 6749 §2.3.1): Basic or form credentials.

use std::collections::HashMap;

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::token::TokenError;
use crate::oauth::options::ClientAuth;

/// The client credentials a token request carried, and how.
pub(super) struct PresentedClient {
    /// `client_secret_basic`, `client_secret_post`, `both` or `none`.
    pub(super) method: &'static str,
    pub(super) id: Option<String>,
    pub(super) secret: Option<String>,
}

pub(super) fn presented_client(
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<PresentedClient, String> {
    let basic = match headers.get(header::AUTHORIZATION) {
        Some(value) => parse_basic(value)?,
        None => None,
    };
    let form_id = form.get("client_id").cloned();
    let form_secret = form.get("client_secret").cloned();
    Ok(match (basic, form_secret) {
        (Some(_), Some(_)) => PresentedClient {
            method: "both",
            id: None,
            secret: None,
        },
        (Some((id, secret)), None) => PresentedClient {
            method: "client_secret_basic",
            id: Some(id),
            secret: Some(secret),
        },
        (None, Some(secret)) => PresentedClient {
            method: "client_secret_post",
            id: form_id,
            secret: Some(secret),
        },
        (None, None) => PresentedClient {
            method: "none",
            id: form_id,
            secret: None,
        },
    })
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))`; `Ok(None)` for another scheme.
fn parse_basic(value: &HeaderValue) -> Result<Option<(String, String)>, String> {
    let Ok(value) = value.to_str() else {
        return Err("Authorization header is not ASCII".to_owned());
    };
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| "malformed Basic credentials".to_owned())?;
    let Some((id, secret)) = decoded.split_once(':') else {
        return Err("malformed Basic credentials".to_owned());
    };
    Ok(Some((form_decode(id), form_decode(secret))))
}

/// Undo `application/x-www-form-urlencoded` encoding of one component.
fn form_decode(component: &str) -> String {
    let plus_as_space = component.replace('+', " ");
    percent_encoding::percent_decode_str(&plus_as_space)
        .decode_utf8_lossy()
        .into_owned()
}

pub(super) fn authenticate(
    settings: &crate::oauth::OAuthServerOptions,
    client: &PresentedClient,
) -> Result<(), TokenError> {
    let method_allowed = match (settings.client_auth, client.method) {
        (_, "both") => {
            return Err(TokenError::Request(
                "invalid_request",
                "use only one client authentication method".to_owned(),
            ));
        }
        (_, "none") => {
            return Err(TokenError::Client(
                "client authentication is required".to_owned(),
            ));
        }
        (ClientAuth::Either, _) => true,
        (ClientAuth::Basic, method) => method == "client_secret_basic",
        (ClientAuth::Post, method) => method == "client_secret_post",
    };
    if !method_allowed {
        return Err(TokenError::Client(format!(
            "{} is not allowed for this client",
            client.method
        )));
    }
    let id_ok = client.id.as_deref() == Some(settings.client_id.as_str());
    let secret_ok = client.secret.as_deref() == Some(settings.client_secret.as_str());
    if !(id_ok && secret_ok) {
        return Err(TokenError::Client(
            "unknown client or wrong secret".to_owned(),
        ));
    }
    Ok(())
}
