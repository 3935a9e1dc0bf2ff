//! Helpers shared by the integration tests: an HTTP client that does not follow redirects, and
//! a driver for the authorization code + PKCE flow.

#![allow(dead_code)] // each test binary uses a different subset

use std::collections::HashMap;
use std::time::Duration;

use nexus_testkit::{OAuthServer, pkce_s256};
use serde_json::Value;

pub const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";
pub const VERIFIER: &str = "verifier-0123456789-0123456789-0123456789-abcdef";
pub const WAIT: Duration = Duration::from_secs(10);

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("reqwest client")
}

/// The query parameters of a redirect's `Location`.
pub fn location_params(response: &reqwest::Response) -> HashMap<String, String> {
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .expect("a Location header")
        .to_str()
        .expect("ASCII Location");
    let url = url::Url::parse(location).expect("absolute Location");
    url.query_pairs().into_owned().collect()
}

/// `GET /authorize` with valid parameters plus `overrides` (an empty value removes a param).
pub async fn authorize(server: &OAuthServer, overrides: &[(&str, &str)]) -> reqwest::Response {
    let challenge = pkce_s256(VERIFIER);
    let client_id = server.client_id();
    let mut params: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", &client_id),
        ("redirect_uri", REDIRECT_URI),
        ("scope", "openid read write"),
        ("state", "state-123"),
        ("nonce", "nonce-456"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ];
    for (name, value) in overrides {
        params.retain(|(n, _)| n != name);
        if !value.is_empty() {
            params.push((name, value));
        }
    }
    client()
        .get(server.authorize_url())
        .query(&params)
        .send()
        .await
        .expect("authorize request")
}

/// Run `/authorize` and return the code.
pub async fn obtain_code(server: &OAuthServer, scope: &str) -> String {
    let response = authorize(server, &[("scope", scope)]).await;
    assert_eq!(response.status(), 302);
    let params = location_params(&response);
    params.get("code").cloned().expect("a code in the redirect")
}

/// `POST /token` with client_secret_basic and the given form.
pub async fn token_request(server: &OAuthServer, form: &[(&str, &str)]) -> reqwest::Response {
    client()
        .post(server.token_url())
        .basic_auth(server.client_id(), Some(server.client_secret()))
        .form(form)
        .send()
        .await
        .expect("token request")
}

pub async fn redeem(server: &OAuthServer, code: &str, verifier: &str) -> reqwest::Response {
    token_request(
        server,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier),
        ],
    )
    .await
}

pub async fn refresh(
    server: &OAuthServer,
    refresh_token: &str,
    scope: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    token_request(server, &form).await
}

/// Status and JSON body (panics with the raw text if the body is not JSON).
pub async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let body =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, body)
}

pub fn str_field<'a>(body: &'a Value, name: &str) -> &'a str {
    body[name]
        .as_str()
        .unwrap_or_else(|| panic!("{name} missing in {body}"))
}
