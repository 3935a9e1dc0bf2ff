//! The handshake request: the credential's strategy applied to `GET <url>` with an empty body.
//!
//! The strategy engine signs HTTP requests, so the URL is signed in its `http(s)` form (as the
//! handshake is an HTTP/1.1 GET to that URL) and turned back into `ws(s)` for the dial. Same
//! rule as the Go bridge.

use crate::error::{NexusError, Result};
use crate::strategy::{self, RequestParts};
use crate::token::CachedToken;
use chrono::Utc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};

/// Check that `url` is a ws(s) (or http(s)) URL and return its http(s) form.
pub(crate) fn http_form(url: &str) -> Result<url::Url> {
    let mut parsed = url::Url::parse(url)
        .map_err(|_| NexusError::InvalidRequest("the WebSocket URL cannot be parsed".into()))?;
    let scheme = match parsed.scheme() {
        "ws" | "http" => "http",
        "wss" | "https" => "https",
        other => {
            return Err(NexusError::InvalidRequest(format!(
                "the WebSocket URL scheme must be ws or wss, not `{other}`"
            )));
        }
    };
    parsed
        .set_scheme(scheme)
        .map_err(|()| NexusError::InvalidRequest("the WebSocket URL has no host".into()))?;
    Ok(parsed)
}

/// The ws(s) form of an http(s) URL (the strategy may have added a query parameter).
fn ws_form(url: &str) -> Result<String> {
    let invalid = || NexusError::InvalidRequest("the WebSocket URL cannot be rebuilt".into());
    let mut parsed = url::Url::parse(url).map_err(|_| invalid())?;
    let scheme = if parsed.scheme() == "https" {
        "wss"
    } else {
        "ws"
    };
    parsed.set_scheme(scheme).map_err(|()| invalid())?;
    Ok(parsed.into())
}

/// The handshake request for `url` authenticated with `token` (plus the caller's `extra`
/// headers, which the credential's own header replaces on a clash).
pub(crate) fn build(url: &str, token: &CachedToken, extra: &[(String, String)]) -> Result<Request> {
    let http_url = http_form(url)?;
    let parts = RequestParts {
        method: "GET",
        url: http_url.as_str(),
        headers: extra,
        body: &[],
    };
    let injection = strategy::apply(token.strategy()?, token.credentials(), &parts, Utc::now())?;
    let mut headers = extra.to_vec();
    injection.merge_into(&mut headers);
    let mut request = ws_form(&injection.url)?
        .into_client_request()
        .map_err(|_| NexusError::InvalidRequest("the WebSocket URL is not usable".into()))?;
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            NexusError::InvalidRequest(format!("invalid handshake header name `{name}`"))
        })?;
        // Values are never shown: they may be the credential.
        let mut value = HeaderValue::from_str(&value).map_err(|_| {
            NexusError::InvalidRequest(format!("invalid value for handshake header `{name}`"))
        })?;
        value.set_sensitive(true);
        request.headers_mut().insert(name, value);
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn token(strategy: serde_json::Value, credentials: serde_json::Value) -> CachedToken {
        let body = json!({"expires_in": 3600, "strategy": strategy, "credentials": credentials});
        let response = serde_json::from_value(body).expect("resolve body");
        CachedToken::from_response(response, Utc::now(), std::time::Instant::now())
    }

    fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
        request.headers().get(name).and_then(|v| v.to_str().ok())
    }

    #[test]
    fn oauth2_goes_in_the_authorization_header() {
        let t = token(json!({"type": "oauth2"}), json!({"access_token": "at-1"}));
        let request = build("wss://h.example/ws?x=1", &t, &[]).expect("request");
        assert_eq!(header(&request, "authorization"), Some("Bearer at-1"));
        assert_eq!(request.uri().to_string(), "wss://h.example/ws?x=1");
        // The WebSocket handshake headers are there too.
        assert!(request.headers().contains_key("sec-websocket-key"));
    }

    #[test]
    fn query_param_goes_in_the_url_and_basic_auth_in_the_header() {
        let t = token(
            json!({"type": "query_param", "config": {"param_name": "key"}}),
            json!({"api_key": "k 1"}),
        );
        let request = build("ws://h.example/ws", &t, &[]).expect("request");
        assert_eq!(request.uri().to_string(), "ws://h.example/ws?key=k%201");
        assert!(!request.headers().contains_key("authorization"));

        let t = token(
            json!({"type": "basic_auth"}),
            json!({"username": "u", "password": "p"}),
        );
        let request = build("ws://h.example/ws", &t, &[]).expect("request");
        assert_eq!(header(&request, "authorization"), Some("Basic dTpw"));
    }

    #[test]
    fn the_credential_header_wins_over_an_extra_one() {
        let t = token(json!({"type": "oauth2"}), json!({"access_token": "at-1"}));
        let extra = vec![
            ("Authorization".to_owned(), "Bearer mine".to_owned()),
            ("X-Client".to_owned(), "demo".to_owned()),
        ];
        let request = build("ws://h.example/", &t, &extra).expect("request");
        assert_eq!(header(&request, "authorization"), Some("Bearer at-1"));
        assert_eq!(header(&request, "x-client"), Some("demo"));
    }

    #[test]
    fn only_websocket_urls_are_accepted() {
        let t = token(json!({"type": "oauth2"}), json!({"access_token": "at-1"}));
        let error = build("ftp://h.example/", &t, &[]).expect_err("scheme");
        assert_eq!(error.code(), "invalid_request");
        assert_eq!(
            build("not a url", &t, &[]).expect_err("url").code(),
            "invalid_request"
        );
    }
}
