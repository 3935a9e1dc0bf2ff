//! Who may call what: the authentication/authorization matrix, API-key verification caching,
//! bad input answered with a clear 4xx, and workspace scoping of lifecycle endpoints.

use super::common::{Stack, assert_error, raw_http, status_and_json};
use super::{OTHER_WS, WS, resolve_query};
use nexus_gateway::routes::paths;
use nexus_protocol::internal::{RESOLVE_PATH, VERIFY_API_KEY_PATH};
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn authentication_and_authorization_matrix() {
    let stack = Stack::start().await;
    stack.broker.add_connection(WS, "github").await;
    let (key, key_id) = stack.broker.new_key(WS).await;
    let (other_key, _) = stack.broker.new_key(OTHER_WS).await;
    let url = stack.url(&format!("/v1/resolve?{}", resolve_query(WS, "github")));

    // Both header forms work.
    let (status, body) =
        status_and_json(stack.http.get(&url).bearer_auth(&key).send().await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].as_str().is_some());
    assert!(
        !body.to_string().contains("refresh_token"),
        "never a refresh token: {body}"
    );
    let (status, _) = status_and_json(
        stack
            .http
            .get(&url)
            .header("X-API-Key", &key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);

    // No key, wrong key → 401.
    let (status, body) = status_and_json(stack.http.get(&url).send().await.unwrap()).await;
    assert_error(status, &body, 401, "unauthorized");
    let (status, body) = stack
        .resolve("nxk_not_a_real_key", &resolve_query(WS, "github"))
        .await;
    assert_error(status, &body, 401, "unauthorized");
    let (status, body) = status_and_json(
        stack
            .http
            .get(&url)
            .header("X-API-Key", "nxk_wrong")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(status, &body, 401, "unauthorized");

    // Another workspace's key → 403, whichever header carries it.
    let (status, body) = stack
        .resolve(&other_key, &resolve_query(WS, "github"))
        .await;
    assert_error(status, &body, 403, "forbidden");
    let (status, body) = status_and_json(
        stack
            .http
            .get(&url)
            .header("X-API-Key", &other_key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(status, &body, 403, "forbidden");

    // Revoked → 401 (the key cache is disabled in this stack, so at once).
    stack.broker.revoke_key(WS, &key_id).await;
    let (status, body) = stack.resolve(&key, &resolve_query(WS, "github")).await;
    assert_error(status, &body, 401, "unauthorized");

    // No error body ever carries the key.
    assert!(!body.to_string().contains(&key));
}

#[tokio::test]
async fn key_verification_is_cached_briefly_and_shared() {
    let stack = Stack::start_with(|c| c.key_cache_ttl = Duration::from_secs(60)).await;
    stack.broker.add_connection(WS, "github").await;
    let (key, _) = stack.broker.new_key(WS).await;
    for _ in 0..5 {
        let (status, _) = stack.resolve(&key, &resolve_query(WS, "github")).await;
        assert_eq!(status, 200);
    }
    assert_eq!(
        stack.proxy.count(VERIFY_API_KEY_PATH),
        1,
        "one verification for five requests"
    );
    // Wrong keys are remembered too (they cost the broker nothing on a retry storm).
    for _ in 0..3 {
        let (status, _) = stack
            .resolve("nxk_wrong", &resolve_query(WS, "github"))
            .await;
        assert_eq!(status, 401);
    }
    assert_eq!(stack.proxy.count(VERIFY_API_KEY_PATH), 2);
}

#[tokio::test]
async fn bad_input_is_a_clear_4xx_never_a_5xx() {
    let stack = Stack::start_with(|c| {
        c.max_body_bytes = 1024;
        c.max_header_bytes = 4096;
    })
    .await;
    stack.broker.add_connection(WS, "github").await;
    let (key, _) = stack.broker.new_key(WS).await;

    for (query, what) in [
        ("", "no parameters"),
        ("workspace_id=acme", "missing provider"),
        ("provider_name=github", "missing workspace"),
        (
            "workspace_id=acme&workspace_id=acme&provider_name=github",
            "repeated workspace",
        ),
        (
            "workspace_id=acme&provider=github&provider_name=github",
            "provider twice via alias",
        ),
        (
            "workspace_id=acme&provider_name=github&min_ttl=soon",
            "non-numeric min_ttl",
        ),
        (
            "workspace_id=acme&provider_name=github&force_refresh=maybe",
            "bad boolean",
        ),
        (
            "workspace_id=acme&provider_name=github&colour=blue",
            "unknown parameter",
        ),
        (
            "workspace_id=acme&provider_name=git%2Fhub",
            "slash in provider",
        ),
    ] {
        let (status, body) = stack.resolve(&key, query).await;
        assert_error(status, &body, 400, "invalid_request");
        assert!(
            !body["message"].as_str().unwrap_or_default().is_empty(),
            "{what}"
        );
    }

    // An unknown provider is a 404 `provider_not_found` passed through from the broker
    // (distinct from `connection_not_found`, a known provider this workspace never connected).
    let (status, body) = stack.resolve(&key, &resolve_query(WS, "nope")).await;
    assert_error(status, &body, 404, "provider_not_found");
    assert!(body["request_id"].is_string());

    // Invalid UTF-8 in the query. Percent-encoded, it reaches our parser: 400 envelope. As a
    // bare byte, hyper's request-line parser refuses it (400) before any handler runs.
    let auth = format!("Authorization: Bearer {key}");
    let response = raw_http::send(
        &stack.gateway_url,
        "GET",
        b"/v1/resolve?workspace_id=acme&provider_name=%FF%FE",
        &[&auth],
    )
    .await;
    assert_error(response.status, &response.json(), 400, "invalid_request");
    let response = raw_http::send(
        &stack.gateway_url,
        "GET",
        b"/v1/resolve?workspace_id=acme&provider_name=\xff",
        &[&auth],
    )
    .await;
    assert_eq!(response.status, 400, "{}", response.head);

    // Path tricks: dot segments and encoded slashes never reach another route or the broker.
    for (target, status, code) in [
        (&b"/v1/../admin"[..], 404, "not_found"),
        (b"/v1/%2e%2e/admin/v1/workspaces", 404, "not_found"),
        (b"/internal/v1/resolve", 404, "not_found"),
        (b"/admin/v1/providers", 404, "not_found"),
        (b"/v1/check-connection/..%2Fadmin", 400, "invalid_request"),
        (b"/v1/check-connection/a%2Fb", 400, "invalid_request"),
        (b"/v1/token/%2e%2e", 400, "invalid_request"),
        (b"/v1/check-connection/%FF", 400, "invalid_request"),
    ] {
        let response = raw_http::send(&stack.gateway_url, "GET", target, &[&auth]).await;
        assert_error(response.status, &response.json(), status, code);
    }
    let broker_paths_seen = stack.proxy.total()
        - stack.proxy.count(VERIFY_API_KEY_PATH)
        - stack.proxy.count(RESOLVE_PATH);
    assert_eq!(broker_paths_seen, 0, "no lifecycle call reached the broker");

    // Unknown route, wrong method.
    let (status, body) = status_and_json(
        stack
            .http
            .get(stack.url("/v2/resolve"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(status, &body, 404, "not_found");
    let (status, body) = status_and_json(
        stack
            .http
            .post(stack.url("/v1/resolve"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(status, &body, 405, "method_not_allowed");

    // Oversized body: declared (Content-Length) and streamed (chunked, no length).
    let big = "x".repeat(4096);
    let (status, body) = status_and_json(
        stack
            .http
            .post(stack.url(paths::REQUEST_CONNECTION))
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(format!(
                "{{\"user_id\":\"{big}\",\"provider_name\":\"github\"}}"
            ))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(status, &body, 413, "payload_too_large");
    let chunks = futures::stream::iter((0..8).map(|_| Ok::<_, std::io::Error>(vec![b' '; 512])));
    let (status, body) = status_and_json(
        stack
            .http
            .post(stack.url(paths::REQUEST_CONNECTION))
            .bearer_auth(&key)
            .body(reqwest::Body::wrap_stream(chunks))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(status, &body, 413, "payload_too_large");

    // Malformed JSON body.
    let (status, body) = status_and_json(
        stack
            .http
            .post(stack.url(paths::REQUEST_CONNECTION))
            .bearer_auth(&key)
            .body("{not json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(status, &body, 400, "invalid_request");

    // Oversized headers.
    let (status, body) = status_and_json(
        stack
            .http
            .get(stack.url(&format!("/v1/resolve?{}", resolve_query(WS, "github"))))
            .bearer_auth(&key)
            .header("x-padding", "p".repeat(8192))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 431, "{body}");
    assert_eq!(body["error"], "payload_too_large");
}

#[tokio::test]
async fn lifecycle_endpoints_are_scoped_to_the_callers_workspace() {
    let stack = Stack::start().await;
    let connection_id = stack.broker.add_connection(WS, "github").await;
    let (key, _) = stack.broker.new_key(WS).await;

    let (status, body) = status_and_json(
        stack
            .http
            .post(stack.url(paths::REQUEST_CONNECTION))
            .bearer_auth(&key)
            .json(
                &json!({"user_id": "u1", "provider_name": "github", "scopes": ["repo"],
                          "return_url": "https://app.invalid/done", "metadata": {"team": "x"}}),
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    for field in ["authUrl", "connection_id", "state", "scopes", "provider_id"] {
        assert!(!body[field].is_null(), "{field} in {body}");
    }

    let (status, body) = status_and_json(
        stack
            .http
            .get(stack.url(&format!("/v1/check-connection/{connection_id}")))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "active");

    let (status, body) = status_and_json(
        stack
            .http
            .get(stack.url(&format!("/v1/token/{connection_id}")))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["strategy"]["type"].is_string());

    // A resolve caches the current token; the refresh's token must replace it at once (some
    // providers revoke the old access token on refresh).
    let (status, cached) = stack.resolve(&key, &resolve_query(WS, "github")).await;
    assert_eq!(status, 200, "{cached}");
    let (status, body) = status_and_json(
        stack
            .http
            .post(stack.url(&format!("/v1/refresh/{connection_id}")))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_ne!(body["access_token"], cached["access_token"], "a new token");
    let (status, after) = stack.resolve(&key, &resolve_query(WS, "github")).await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(
        after["access_token"], body["access_token"],
        "the resolve after a refresh answers the refreshed token, not the cached one"
    );

    let (status, body) = status_and_json(
        stack
            .http
            .get(stack.url("/v1/check-connection/does-not-exist"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(status, &body, 404, "connection_not_found");

    // Unauthenticated lifecycle calls are refused before reaching the broker.
    let (status, body) = status_and_json(
        stack
            .http
            .get(stack.url(&format!("/v1/token/{connection_id}")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(status, &body, 401, "unauthorized");
    let _: Value = body;
}

#[tokio::test]
async fn another_workspaces_connection_is_invisible() {
    let stack = Stack::start().await;
    let acme_connection = stack.broker.add_connection(WS, "github").await;
    let (other_key, _) = stack.broker.new_key(OTHER_WS).await;
    for (method, path) in [
        (
            reqwest::Method::GET,
            format!("/v1/check-connection/{acme_connection}"),
        ),
        (reqwest::Method::GET, format!("/v1/token/{acme_connection}")),
        (
            reqwest::Method::POST,
            format!("/v1/refresh/{acme_connection}"),
        ),
    ] {
        let (status, body) = status_and_json(
            stack
                .http
                .request(method, stack.url(&path))
                .bearer_auth(&other_key)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(body.get("access_token").is_none());
    }
}
