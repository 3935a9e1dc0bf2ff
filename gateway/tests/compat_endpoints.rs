//! The original Nexus gateway's endpoints (issue 15, design/design-15-endpoints.md), called as
//! its clients call them (`X-API-Key`, `Accept: application/json`; the capture pair with the
//! one-time state only), against a real gateway and broker on loopback and the testkit OAuth
//! provider: `GET /v1/providers[/metadata]`, provider admin refused, `GET /v1/capture-schema` +
//! `POST /v1/capture-credential`, `DELETE /v1/connections/{id}`, `/auth/callback`.

mod common;

use common::{Stack, status_and_json, test_config};
use serde_json::{Value, json};
use std::time::Duration;

const WS: &str = "acme";

async fn call(
    stack: &Stack,
    key: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = stack
        .http
        .request(method, stack.url(path))
        .header("Accept", "application/json");
    if let Some(key) = key {
        request = request.header("X-API-Key", key);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    status_and_json(request.send().await.expect("gateway reachable")).await
}

#[tokio::test]
async fn providers_list_what_clients_may_know_and_never_a_secret() {
    let stack = Stack::start().await;
    let (key, _) = stack.broker.new_key(WS).await;
    let (status, listed) = call(&stack, Some(&key), "GET", "/v1/providers", None).await;
    assert_eq!(status, 200, "{listed}");
    let github = &listed["oauth2"]["github"];
    assert_eq!(github["api_base_url"], json!("https://api.github.invalid"));
    assert_eq!(github["scopes"], json!(["read"]));
    assert_eq!(github["user_info_endpoint"], json!(""));
    assert!(listed["api_key"]["static-api"].is_object(), "{listed}");
    let text = listed.to_string();
    for secret in [
        stack.broker.oauth.client_id(),
        stack.broker.oauth.client_secret(),
    ] {
        assert!(!text.contains(&secret), "leaked {secret}: {text}");
    }
    let (status, metadata) = call(&stack, Some(&key), "GET", "/v1/providers/metadata", None).await;
    assert_eq!((status, &metadata), (200, &listed));

    let (status, refused) = call(&stack, None, "GET", "/v1/providers", None).await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (401, Some("unauthorized"))
    );
}

#[tokio::test]
async fn provider_administration_is_refused_with_where_to_do_it() {
    let stack = Stack::start().await;
    let (key, _) = stack.broker.new_key(WS).await;
    let id = "/v1/providers/5f0c6a52-3a4b-4a8e-9a53-0c1e2d3f4a5b";
    for (method, path) in [
        ("POST", "/v1/providers"),
        ("GET", id),
        ("PUT", id),
        ("PATCH", id),
        ("DELETE", id),
    ] {
        let body = (method != "GET" && method != "DELETE").then(|| json!({"name": "x"}));
        let (status, refused) = call(&stack, Some(&key), method, path, body).await;
        assert_eq!(
            (status, refused["error"].as_str()),
            (403, Some("forbidden")),
            "{method} {path}"
        );
        let message = refused["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("/admin/v1/providers") && message.contains("nexus providers apply"),
            "{method} {path}: {message}"
        );
    }
}

/// Starts a static-key connect flow the way the original clients do; returns its `state`,
/// connection id and return URL.
async fn start_static_flow(stack: &Stack, key: &str) -> (String, String, String) {
    let return_url = "https://app.example/connected";
    let body = json!({"user_id": "u-1", "provider_name": "static-api", "scopes": [], "return_url": return_url});
    let (status, started) = call(
        stack,
        Some(key),
        "POST",
        "/v1/request-connection",
        Some(body),
    )
    .await;
    assert_eq!(status, 200, "{started}");
    let state = started["state"].as_str().expect("state").to_owned();
    let id = started["connection_id"]
        .as_str()
        .expect("connection_id")
        .to_owned();
    (state, id, return_url.to_owned())
}

#[tokio::test]
async fn capture_schema_and_credential_complete_a_static_connection_with_the_state_alone() {
    let stack = Stack::start().await;
    let (key, _) = stack.broker.new_key(WS).await;
    let (state, connection_id, return_url) = start_static_flow(&stack, &key).await;

    let schema_path = format!("/v1/capture-schema?state={state}");
    let (status, schema) = call(&stack, None, "GET", &schema_path, None).await;
    assert_eq!(status, 200, "{schema}");
    assert_eq!(schema["provider_name"], json!("static-api"));
    let fields: Vec<String> = serde_json::from_value(schema["schema"]["required"].clone()).unwrap();
    assert!(!fields.is_empty(), "{schema}");

    // A value with a control character is refused by the broker's rule, and the state survives.
    let credentials: Value = fields
        .iter()
        .map(|f| (f.clone(), json!("bad\u{1}value")))
        .collect();
    let bad = json!({"state": state, "credentials": credentials});
    let (status, refused) = call(&stack, None, "POST", "/v1/capture-credential", Some(bad)).await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (400, Some("invalid_request")),
        "{refused}"
    );
    assert!(!refused.to_string().contains("bad\u{1}value"));

    let credentials: Value = fields
        .iter()
        .map(|f| (f.clone(), json!("sk-captured-123")))
        .collect();
    let good = json!({"state": state, "credentials": credentials});
    let (status, captured) = call(
        &stack,
        None,
        "POST",
        "/v1/capture-credential",
        Some(good.clone()),
    )
    .await;
    assert_eq!(status, 200, "{captured}");
    assert_eq!(captured["connection_id"], json!(connection_id));
    assert_eq!(captured["status"], json!("success"));
    let redirect = captured["redirect_url"].as_str().expect("redirect_url");
    assert!(
        redirect.starts_with(&return_url) && redirect.contains(&connection_id),
        "{redirect}"
    );
    assert!(
        !captured.to_string().contains("sk-captured-123"),
        "secret echoed: {captured}"
    );

    let check = format!("/v1/check-connection/{connection_id}");
    let (_, checked) = call(&stack, Some(&key), "GET", &check, None).await;
    assert_eq!(checked["status"], json!("active"), "{checked}");
    let (status, resolved) = stack
        .resolve(&key, "workspace_id=acme&provider_name=static-api")
        .await;
    assert_eq!(status, 200, "{resolved}");
    assert!(resolved.to_string().contains("sk-captured-123"));

    // A value of the wrong type is refused without being quoted back.
    let typed = json!({"state": state, "credentials": {"api_key": 987654321}});
    let (status, refused) = call(&stack, None, "POST", "/v1/capture-credential", Some(typed)).await;
    assert_eq!(status, 400, "{refused}");
    assert!(!refused.to_string().contains("987654321"), "{refused}");

    // Used, forged or missing: one answer, which says nothing of which it was.
    let (used_status, used) =
        call(&stack, None, "POST", "/v1/capture-credential", Some(good)).await;
    let forged = json!({"state": "forged-state", "credentials": {"api_key": "x"}});
    let (forged_status, forged) =
        call(&stack, None, "POST", "/v1/capture-credential", Some(forged)).await;
    let (schema_used_status, schema_used) = call(&stack, None, "GET", &schema_path, None).await;
    let (missing_status, missing) = call(&stack, None, "GET", "/v1/capture-schema", None).await;
    for (status, body) in [
        (used_status, &used),
        (forged_status, &forged),
        (schema_used_status, &schema_used),
        (missing_status, &missing),
    ] {
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_request")),
            "{body}"
        );
        assert_eq!(body["message"], used["message"], "{body}");
    }
}

/// An OAuth provider at the testkit server that declares its RFC 7009 endpoint, with one
/// active connection in [`WS`]; returns the connection id and the tokens the provider issued.
async fn revocable_connection(stack: &Stack) -> (String, String) {
    let oauth = &stack.broker.oauth;
    let provider = json!({
        "name": "revocable", "auth_type": "oauth2", "client_id": oauth.client_id(),
        "client_secret": oauth.client_secret(), "auth_url": oauth.authorize_url(),
        "token_url": oauth.token_url(), "revocation_url": format!("{}/revoke", oauth.url()),
        "scopes": ["read"]
    });
    stack
        .broker
        .admin(
            reqwest::Method::POST,
            "/admin/v1/providers",
            Some(provider),
            200,
        )
        .await;
    let (_, refresh_token) = oauth.issue_tokens_directly(["read"]);
    let body =
        json!({"provider_name": "revocable", "kind": "refresh_token", "secret": refresh_token});
    let path = format!("/admin/v1/workspaces/{WS}/connections/import");
    let created = stack
        .broker
        .admin(reqwest::Method::POST, &path, Some(body), 201)
        .await;
    (
        created["id"].as_str().expect("id").to_owned(),
        refresh_token,
    )
}

#[tokio::test]
async fn delete_connection_revokes_here_and_at_the_provider_and_is_audited() {
    let stack = Stack::start().await;
    let (key, key_id) = stack.broker.new_key(WS).await;
    let (id, refresh_token) = revocable_connection(&stack).await;
    let (status, resolved) = stack
        .resolve(&key, "workspace_id=acme&provider_name=revocable")
        .await;
    assert_eq!(status, 200, "{resolved}");
    let access_token = resolved["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    assert!(stack.broker.oauth.introspect(&access_token).active);

    // Another workspace's key: 403 when it names this workspace, 404 when it does not.
    let (other_key, _) = stack.broker.new_key("globex").await;
    let named = format!("/v1/connections/{id}?workspace_id=acme");
    let (status, refused) = call(&stack, Some(&other_key), "DELETE", &named, None).await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (403, Some("forbidden")),
        "{refused}"
    );
    let plain = format!("/v1/connections/{id}");
    let (status, refused) = call(&stack, Some(&other_key), "DELETE", &plain, None).await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (404, Some("connection_not_found"))
    );
    let (status, _) = call(&stack, None, "DELETE", &plain, None).await;
    assert_eq!(status, 401);

    let path = format!("/v1/connections/{id}?workspace_id=acme&reason=key+leaked");
    let (status, revoked) = call(&stack, Some(&key), "DELETE", &path, None).await;
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(
        revoked,
        json!({"connection_id": id, "status": "revoked", "token_deleted": true,
               "provider_revoked": true, "sessions_closed": 0})
    );
    let oauth = &stack.broker.oauth;
    assert!(
        !oauth.introspect(&access_token).active,
        "access token still live at the provider"
    );
    assert!(
        !oauth.introspect(&refresh_token).active,
        "refresh token still live at the provider"
    );
    let (status, _) = stack
        .resolve(&key, "workspace_id=acme&provider_name=revocable")
        .await;
    assert_ne!(status, 200, "a revoked connection still resolves");

    let audit = stack.broker.audit(WS).await;
    let record = audit
        .iter()
        .find(|r| r["action"] == "connection.revoked" && r["target"] == json!(id))
        .expect("a connection.revoked record");
    assert_eq!(record["detail"], json!("key leaked"));
    assert!(
        record["principal"]
            .as_str()
            .unwrap_or_default()
            .contains(&key_id),
        "{record}"
    );

    // Again: still revoked, nothing left to delete; an unknown id is 404.
    let (status, again) = call(&stack, Some(&key), "DELETE", &plain, None).await;
    assert_eq!(
        (status, &again["token_deleted"]),
        (200, &json!(false)),
        "{again}"
    );
    let (status, unknown) = call(
        &stack,
        Some(&key),
        "DELETE",
        "/v1/connections/no-such",
        None,
    )
    .await;
    assert_eq!(
        (status, unknown["error"].as_str()),
        (404, Some("connection_not_found"))
    );
}

#[tokio::test]
async fn delete_connection_reaches_other_gateways_through_the_revocation_feed() {
    let stack = Stack::start().await;
    let (key, _) = stack.broker.new_key(WS).await;
    let id = stack.broker.add_connection(WS, "static-api").await;
    // A second gateway with production caches (tokens kept up to 300 s) following the broker.
    let mut config = test_config(&stack.broker.url);
    config.token_cache_max_ttl = Duration::from_secs(300);
    config.revocation_feed = true;
    let gateway = nexus_gateway::Gateway::new(config).expect("gateway config");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let other = format!("http://{}", listener.local_addr().expect("addr"));
    let router = gateway.router();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    common::wait_until("the revocation stream", || {
        gateway.revocation_feed_connected()
    })
    .await;
    let resolve_there = || async {
        let url = format!("{other}/v1/resolve?workspace_id=acme&provider_name=static-api");
        let response = stack
            .http
            .get(url)
            .header("X-API-Key", &key)
            .send()
            .await
            .unwrap();
        response.status().as_u16()
    };
    assert_eq!(resolve_there().await, 200);
    assert_eq!(resolve_there().await, 200, "cached now");

    let (status, revoked) = call(
        &stack,
        Some(&key),
        "DELETE",
        &format!("/v1/connections/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{revoked}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while resolve_there().await == 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the other gateway still serves the revoked connection"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn auth_callback_names_the_broker_callback_unless_relaying() {
    let stack = Stack::start().await;
    let (status, refused) = call(&stack, None, "GET", "/auth/callback?code=x&state=y", None).await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (404, Some("not_found"))
    );
    assert!(
        refused["message"]
            .as_str()
            .unwrap_or_default()
            .contains("/oauth/callback"),
        "{refused}"
    );
}

#[tokio::test]
async fn auth_callback_relays_the_provider_redirect_to_the_broker() {
    let stack = Stack::start_with(|config| config.relay_auth_callback = true).await;
    let (key, _) = stack.broker.new_key(WS).await;
    let body = json!({"user_id": "u-1", "provider_name": "github", "scopes": ["read"],
                      "return_url": "https://app.example/done"});
    let (status, started) = call(
        &stack,
        Some(&key),
        "POST",
        "/v1/request-connection",
        Some(body),
    )
    .await;
    assert_eq!(status, 200, "{started}");
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let at_provider = no_redirects
        .get(started["authUrl"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let location = at_provider.headers()["location"]
        .to_str()
        .unwrap()
        .to_owned();
    let query = location.split_once('?').expect("callback query").1;
    // The provider was registered with the gateway's URL: the browser lands there.
    let at_gateway = no_redirects
        .get(stack.url(&format!("/auth/callback?{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        at_gateway.status().as_u16(),
        303,
        "{:?}",
        at_gateway.headers()
    );
    let landing = at_gateway.headers()["location"].to_str().unwrap();
    assert!(
        landing.starts_with("https://app.example/done?status=success"),
        "{landing}"
    );
    let id = started["connection_id"].as_str().unwrap();
    let (_, checked) = call(
        &stack,
        Some(&key),
        "GET",
        &format!("/v1/check-connection/{id}"),
        None,
    )
    .await;
    assert_eq!(checked["status"], json!("active"), "{checked}");

    // The broker's refusal page comes through as it is (query intact, no JSON envelope).
    let forged = no_redirects
        .get(stack.url("/auth/callback?code=x&state=forged"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 400);
    let page = forged.text().await.unwrap();
    assert!(page.contains("unknown or was already used"), "{page}");
}
