//! Drop-in compatibility with the original Nexus clients (issue 15): their requests, sent as
//! they send them, to a real gateway and broker on loopback, and their expectations checked
//! field by field through the client models of `compat/mod.rs`. Plus: every resolve answer, for
//! every strategy and every catalog provider, carries the effective strategy.

mod common;
mod compat;

use common::{Stack, status_and_json};
use compat::{ALL, Original};
use nexus_protocol::{Strategy, StrategySpec};
use serde_json::{Value, json};

const WS: &str = "acme";

async fn put_provider(stack: &Stack, provider: Value) {
    let path = "/admin/v1/providers";
    stack
        .broker
        .admin(reqwest::Method::POST, path, Some(provider), 200)
        .await;
}

/// Imports a connection; `secret` is a string (api_key / refresh_token) or an object of
/// credential fields (credentials).
async fn import(stack: &Stack, provider: &str, kind: &str, secret: Value) -> String {
    let body = json!({"provider_name": provider, "kind": kind, "secret": secret});
    let path = format!("/admin/v1/workspaces/{WS}/connections/import");
    let created = stack
        .broker
        .admin(reqwest::Method::POST, &path, Some(body), 201)
        .await;
    created["id"].as_str().expect("connection id").to_owned()
}

/// A request exactly as the original SDKs send it: the key in `X-API-Key` (Python, TypeScript;
/// the Go SDK gets it from the caller's `http.RoundTripper`, see docs/migration.md), JSON accepted.
async fn original_request(stack: &Stack, key: &str, method: &str, path: &str) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let response = stack
        .http
        .request(method, stack.url(path))
        .header("X-API-Key", key)
        .header("Accept", "application/json")
        .send()
        .await
        .expect("gateway reachable");
    status_and_json(response).await
}

async fn original_resolve(stack: &Stack, key: &str, provider: &str) -> Value {
    let path = format!("/v1/resolve?workspace_id={WS}&provider_name={provider}");
    let (status, body) = original_request(stack, key, "GET", &path).await;
    assert_eq!(status, 200, "{provider}: {body}");
    body
}

/// Every original client injects `expected` for `provider` (which this gateway's own typed
/// strategy would inject too).
async fn assert_all_inject(stack: &Stack, key: &str, provider: &str, expected: (&str, &str)) {
    let answer = original_resolve(stack, key, provider).await;
    let expected = (expected.0.to_owned(), expected.1.to_owned());
    for client in ALL {
        assert_eq!(
            client.injection(&answer),
            Ok(expected.clone()),
            "{client:?} for {provider}: {answer}"
        );
    }
}

#[tokio::test]
async fn original_clients_inject_oauth2_and_header_with_and_without_prefix() {
    let stack = Stack::start().await;
    let (key, _) = stack.broker.new_key(WS).await;
    for (name, config) in [
        // The issue's case: no `value_prefix` stored; the original Python SDK sent "Bearer k-123".
        ("trial", json!({"header_name": "X-Trial-Key"})),
        (
            "prefixed",
            json!({"header_name": "X-Token", "value_prefix": "Token "}),
        ),
        ("auth-default", json!({})),
        (
            "auth-token",
            json!({"header_name": "Authorization", "value_prefix": "Token "}),
        ),
    ] {
        let strategy = json!({"type": "header", "config": config});
        put_provider(
            &stack,
            json!({"name": name, "auth_type": "api_key", "strategy": strategy}),
        )
        .await;
        import(&stack, name, "api_key", json!("k-123")).await;
    }
    // A static key under a field of its own, found only through `credential_field`.
    put_provider(&stack, json!({"name": "custom-field", "auth_type": "header",
        "strategy": {"type": "header", "config": {"header_name": "X-Key", "credential_field": "token"}}})).await;
    import(
        &stack,
        "custom-field",
        "credentials",
        json!({"token": "tok-9"}),
    )
    .await;
    stack.broker.add_connection(WS, "github").await;

    assert_all_inject(&stack, &key, "trial", ("X-Trial-Key", "k-123")).await;
    assert_all_inject(&stack, &key, "prefixed", ("X-Token", "Token k-123")).await;
    assert_all_inject(
        &stack,
        &key,
        "auth-default",
        ("Authorization", "Bearer k-123"),
    )
    .await;
    assert_all_inject(&stack, &key, "custom-field", ("X-Key", "tok-9")).await;

    let github = original_resolve(&stack, &key, "github").await;
    let token = github["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    for client in ALL {
        let injected = client.injection(&github);
        assert_eq!(
            injected,
            Ok(("Authorization".into(), format!("Bearer {token}"))),
            "{client:?}"
        );
    }
    // The first releases inject only `Authorization`: right for oauth2 and for `header`
    // providers that use it, with or without their own prefix (docs/migration.md says which
    // providers they inject wrongly whatever the answer).
    for client in [Original::Python, Original::TypeScript] {
        for (provider, expected) in [
            ("auth-default", "Bearer k-123".to_owned()),
            ("auth-token", "Token k-123".to_owned()),
            ("github", format!("Bearer {token}")),
        ] {
            let answer = original_resolve(&stack, &key, provider).await;
            assert_eq!(
                compat::first_release_injection(client, &answer),
                Ok(("Authorization".into(), expected)),
                "{client:?} first release for {provider}: {answer}"
            );
        }
    }
    // Expiry: Go parses `credentials.expires_at` as RFC 3339, Python/TypeScript as ISO 8601.
    let expires_at = github["credentials"]["expires_at"]
        .as_str()
        .expect("expires_at");
    assert!(
        chrono::DateTime::parse_from_rfc3339(expires_at).is_ok(),
        "{expires_at}"
    );
}

#[tokio::test]
async fn token_answers_carry_scope_and_provider_beside_scopes() {
    let stack = Stack::start().await;
    let (key, _) = stack.broker.new_key(WS).await;
    let id = stack.broker.add_connection(WS, "github").await;
    let resolve = original_resolve(&stack, &key, "github").await;
    let (s1, by_id) = original_request(&stack, &key, "GET", &format!("/v1/token/{id}")).await;
    let (s2, refreshed) =
        original_request(&stack, &key, "POST", &format!("/v1/refresh/{id}")).await;
    assert_eq!((s1, s2), (200, 200), "{by_id} {refreshed}");
    for answer in [&resolve, &by_id, &refreshed] {
        // What `_parse_token_response` / `parseTokenResponse` read.
        assert!(
            answer["access_token"]
                .as_str()
                .is_some_and(|t| !t.is_empty()),
            "{answer}"
        );
        assert_eq!(answer["token_type"], "Bearer");
        assert!(answer["expires_in"].is_number(), "{answer}");
        assert!(answer["expires_at"].is_string(), "{answer}");
        assert_eq!(answer["scope"], "read", "{answer}");
        assert_eq!(answer["scopes"], json!(["read"]));
        assert_eq!(answer["provider"], "github");
        assert!(answer["strategy"].is_object() && answer["credentials"].is_object());
        assert!(answer.get("refresh_token").is_none(), "never sent");
    }
}

#[tokio::test]
async fn error_envelope_carries_code_beside_error() {
    let stack = Stack::start().await;
    let (key, _) = stack.broker.new_key(WS).await;
    let (status, missing) = original_request(
        &stack,
        &key,
        "GET",
        &format!("/v1/resolve?workspace_id={WS}&provider_name=nope"),
    )
    .await;
    assert_eq!(status, 404);
    let (status, unauthenticated) = original_request(
        &stack,
        "",
        "GET",
        &format!("/v1/resolve?workspace_id={WS}&provider_name=github"),
    )
    .await;
    assert_eq!(status, 401);
    for (status, body) in [(404, &missing), (401, &unauthenticated)] {
        let code = body["error"].as_str().expect("error");
        assert_eq!(compat::go_error_code(body).as_deref(), Some(code), "{body}");
        assert_eq!(compat::python_typescript_error_code(status, body), code);
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
}

#[tokio::test]
async fn lifecycle_status_keeps_the_original_value_set_and_stops_their_wait() {
    let stack = Stack::start().await;
    let (key, _) = stack.broker.new_key(WS).await;
    let check = |id: String| {
        let (stack, key) = (&stack, &key);
        async move { original_request(stack, key, "GET", &format!("/v1/check-connection/{id}")).await }
    };

    let active = stack.broker.add_connection(WS, "github").await;
    let body = json!({"user_id": "u1", "provider_name": "github", "scopes": ["read"],
                      "return_url": "https://app.example/done"});
    let pending = stack
        .http
        .post(stack.url("/v1/request-connection"))
        .header("X-API-Key", &key)
        .json(&body)
        .send()
        .await
        .expect("gateway reachable");
    let (_, pending) = status_and_json(pending).await;
    let pending = pending["connection_id"]
        .as_str()
        .expect("connection_id")
        .to_owned();

    // needs_reauth: the provider revokes the grant; a forced refresh finds out.
    let reauth = stack.broker.add_connection(WS, "github").await;
    stack.broker.oauth.revoke_all();
    let (status, _) =
        original_request(&stack, &key, "POST", &format!("/v1/refresh/{reauth}")).await;
    assert_eq!(status, 409);

    let revoked = import(&stack, "static-api", "api_key", json!("sk_1")).await;
    let path = format!("/admin/v1/workspaces/{WS}/connections/{revoked}");
    stack
        .broker
        .admin(reqwest::Method::DELETE, &path, None, 204)
        .await;

    for (id, status, state, stops) in [
        (&active, "active", "active", true),
        (&pending, "pending", "pending", false),
        (&reauth, "failed", "needs_reauth", true),
        (&revoked, "failed", "revoked", true),
    ] {
        let (code, answer) = check(id.clone()).await;
        assert_eq!(code, 200, "{answer}");
        assert_eq!(
            (answer["status"].as_str(), answer["state"].as_str()),
            (Some(status), Some(state)),
            "{answer}"
        );
        assert_eq!(compat::wait_for_active_stops_at(status), stops, "{state}");
    }
    let (_, reauth_answer) = check(reauth.clone()).await;
    assert!(
        reauth_answer["reauth_url"]
            .as_str()
            .is_some_and(|u| u.starts_with("http"))
    );

    // This repository's SDK core reads the answer as `CheckConnectionResponse`: the finer
    // state, so its own `wait_for_active` behaves as before.
    let read: nexus_protocol::CheckConnectionResponse =
        serde_json::from_value(reauth_answer).expect("parses");
    assert_eq!(read.status, nexus_protocol::ConnectionStatus::NeedsReauth);
}

/// The fields each strategy's effective form must carry (what an SDK needs to inject it).
fn required_config(kind: &str) -> &'static [&'static str] {
    match kind {
        "oauth2" | "header" => &["header_name", "value_prefix", "credential_field"],
        "query_param" => &["param_name", "credential_field"],
        "basic_auth" => &["username_field", "password_field"],
        "hmac_payload" => &["header_name", "secret_field", "algo", "encoding"],
        "aws_sigv4" => &["region", "service"],
        other => panic!("unknown strategy {other}"),
    }
}

fn assert_effective(answer: &Value, stored: &StrategySpec, provider: &str) {
    let sent: StrategySpec = serde_json::from_value(answer["strategy"].clone()).expect("strategy");
    assert_eq!(
        Strategy::from_spec(&sent),
        Strategy::from_spec(stored),
        "{provider}: same meaning"
    );
    assert_eq!(sent, stored.effective().expect("valid"), "{provider}");
    for field in required_config(&sent.kind) {
        assert!(
            sent.config.get(*field).is_some_and(Value::is_string),
            "{provider}: {field} in {answer}"
        );
    }
    assert_eq!(answer["provider"], provider);
    assert!(answer["scope"].is_string(), "{provider}: scope in {answer}");
}

#[tokio::test]
async fn every_strategy_is_answered_in_its_effective_form() {
    let stack = Stack::start().await;
    let (key, _) = stack.broker.new_key(WS).await;
    let cases = [
        (
            "s-header",
            json!({"type": "api_key"}),
            json!({"api_key": "k"}),
        ),
        (
            "s-query",
            json!({"type": "query_param"}),
            json!({"api_key": "k"}),
        ),
        (
            "s-basic",
            json!({"type": "basic_auth"}),
            json!({"username": "u", "password": "p"}),
        ),
        (
            "s-hmac",
            json!({"type": "hmac_payload", "config": {"algo": "SHA1"}}),
            json!({"secret": "s"}),
        ),
        (
            "s-sigv4",
            json!({"type": "aws_sigv4", "config": {"region": "eu-west-1", "service": "s3"}}),
            json!({"access_key": "AKIA", "secret_key": "sk"}),
        ),
    ];
    for (name, strategy, credentials) in &cases {
        let auth_type = match strategy["type"].as_str() {
            Some("api_key") => "api_key",
            Some(other) => other,
            None => unreachable!(),
        };
        put_provider(
            &stack,
            json!({"name": name, "auth_type": auth_type, "strategy": strategy}),
        )
        .await;
        import(&stack, name, "credentials", credentials.clone()).await;
        let stored: StrategySpec = serde_json::from_value(strategy.clone()).expect("spec");
        assert_effective(&original_resolve(&stack, &key, name).await, &stored, name);
    }
    stack.broker.add_connection(WS, "github").await;
    let answer = original_resolve(&stack, &key, "github").await;
    assert_effective(&answer, &StrategySpec::new("oauth2"), "github");
}

#[tokio::test]
async fn every_catalog_provider_is_answered_in_its_effective_form() {
    let stack = Stack::start().await;
    let (key, _) = stack.broker.new_key(WS).await;
    let oauth = &stack.broker.oauth;
    let names = nexus_broker::providers::catalog::names();
    assert!(names.len() >= 15, "catalog has {} entries", names.len());
    for name in &names {
        // The catalog entry, pointed at the loopback provider instead of the real one.
        put_provider(
            &stack,
            json!({
                "name": name, "catalog": name, "client_id": oauth.client_id(),
                "client_secret": oauth.client_secret(), "auth_url": oauth.authorize_url(),
                "token_url": oauth.token_url(), "issuer": null, "enable_discovery": false,
            }),
        )
        .await;
        let (_, refresh_token) = oauth.issue_tokens_directly(["read"]);
        import(&stack, name, "refresh_token", json!(refresh_token)).await;
        let answer = original_resolve(&stack, &key, name).await;
        assert_effective(&answer, &StrategySpec::new("oauth2"), name);
        for client in ALL {
            let token = answer["access_token"].as_str().expect("access_token");
            assert_eq!(
                client.injection(&answer),
                Ok(("Authorization".into(), format!("Bearer {token}"))),
                "{client:?} {name}"
            );
        }
    }
}
