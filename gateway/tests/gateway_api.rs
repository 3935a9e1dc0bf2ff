//! The gateway over real HTTP on loopback, in front of the real broker and a fake OAuth
//! provider (see `common`).

mod common;

use common::raw_http;
use common::{Stack, assert_error, status_and_json, wait_until};
use nexus_gateway::routes::paths;
use nexus_protocol::internal::{RESOLVE_PATH, VERIFY_API_KEY_PATH};
use nexus_protocol::{ConnectionId, ProviderName, WorkspaceId};
use serde_json::{Value, json};
use std::time::Duration;

const WS: &str = "acme";
const OTHER_WS: &str = "globex";

fn resolve_query(ws: &str, provider: &str) -> String {
    format!("workspace_id={ws}&provider_name={provider}")
}

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
async fn concurrent_resolves_share_one_broker_call_and_force_refresh_bypasses() {
    let stack = Stack::start().await;
    stack.broker.add_connection(WS, "github").await;
    let (key, _) = stack.broker.new_key(WS).await;
    const N: usize = 16;

    // Hold the broker's resolve so all N requests are in flight together; they pass key
    // verification (uncached in this stack) one by one, so N verifications = N requests queued.
    stack.proxy.hold(RESOLVE_PATH);
    let verifications_before = stack.proxy.count(VERIFY_API_KEY_PATH);
    let mut tasks = Vec::new();
    for _ in 0..N {
        let (stack_url, key) = (
            stack.url(&format!("/v1/resolve?{}", resolve_query(WS, "github"))),
            key.clone(),
        );
        let http = stack.http.clone();
        tasks.push(tokio::spawn(async move {
            status_and_json(http.get(stack_url).bearer_auth(key).send().await.unwrap()).await
        }));
    }
    wait_until("all requests verified", || {
        stack.proxy.count(VERIFY_API_KEY_PATH) >= verifications_before + N
    })
    .await;
    wait_until("the first resolve reached the broker", || {
        stack.proxy.count(RESOLVE_PATH) >= 1
    })
    .await;
    stack.proxy.release();

    let mut tokens = Vec::new();
    for task in tasks {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, 200, "{body}");
        tokens.push(body["access_token"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        stack.proxy.count(RESOLVE_PATH),
        1,
        "N concurrent resolves → one broker call"
    );
    assert!(tokens.iter().all(|t| t == &tokens[0]));

    // Warm: still no broker call.
    let (_, body) = stack.resolve(&key, &resolve_query(WS, "github")).await;
    assert_eq!(body["access_token"], tokens[0].as_str());
    assert_eq!(stack.proxy.count(RESOLVE_PATH), 1);

    // force_refresh goes to the broker and replaces the cached token.
    let (status, forced) = stack
        .resolve(
            &key,
            &format!("{}&force_refresh=true", resolve_query(WS, "github")),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(stack.proxy.count(RESOLVE_PATH), 2);
    assert_ne!(forced["access_token"], tokens[0].as_str());
    let (_, after) = stack.resolve(&key, &resolve_query(WS, "github")).await;
    assert_eq!(after["access_token"], forced["access_token"]);
    assert_eq!(stack.proxy.count(RESOLVE_PATH), 2);

    // A min_ttl the cached token cannot meet goes to the broker too.
    let remaining = after["expires_in"].as_i64().expect("expires_in");
    let (status, _) = stack
        .resolve(
            &key,
            &format!(
                "{}&min_ttl={}",
                resolve_query(WS, "github"),
                remaining + 600
            ),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(stack.proxy.count(RESOLVE_PATH), 3);
    let (status, _) = stack
        .resolve(&key, &format!("{}&min_ttl=1", resolve_query(WS, "github")))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        stack.proxy.count(RESOLVE_PATH),
        3,
        "a min_ttl the cache meets is served from it"
    );
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let stack = Stack::start_with(|c| {
        c.rate_limit_per_second = 1;
        c.rate_limit_burst = 2;
    })
    .await;
    stack.broker.add_connection(WS, "github").await;
    let (key, _) = stack.broker.new_key(WS).await;
    let url = stack.url(&format!("/v1/resolve?{}", resolve_query(WS, "github")));
    let mut limited = None;
    for _ in 0..5 {
        let response = stack.http.get(&url).bearer_auth(&key).send().await.unwrap();
        if response.status() == 429 {
            limited = Some(response);
            break;
        }
        assert_eq!(response.status(), 200);
    }
    let response = limited.expect("a burst of 2 at 1/s must be limited within 5 requests");
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    let (status, body) = status_and_json(response).await;
    assert_error(status, &body, 429, "rate_limited");
    assert_eq!(body["retry_after"], json!(retry_after));
}

/// `GET {base}/openapi.json` as JSON (200 required).
async fn openapi_document(stack: &Stack, base: &str) -> Value {
    let url = format!("{base}{}", paths::OPENAPI);
    let (status, doc) = status_and_json(stack.http.get(url).send().await.unwrap()).await;
    assert_eq!(status, 200, "{base}{}", paths::OPENAPI);
    doc
}

#[tokio::test]
async fn openapi_document_is_3_1_and_lists_exactly_the_routes_served() {
    let stack = Stack::start().await;
    let doc = openapi_document(&stack, &stack.gateway_url).await;
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );
    let documented = doc["paths"].as_object().expect("paths");
    // Every route is documented, and nothing else is (the broker's admin API is the broker's).
    let mut listed: Vec<&str> = documented.keys().map(String::as_str).collect();
    let mut routed: Vec<&str> = paths::ALL.to_vec();
    listed.sort_unstable();
    routed.sort_unstable();
    assert_eq!(listed, routed, "documented paths vs routed paths");

    // Every documented operation reaches a handler: not the router's fallback (404 "no such
    // route") and not a wrong method (405).
    for (path, operations) in documented {
        let concrete = path.replace("{id}", "x1");
        for method in operations.as_object().expect("operations").keys() {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = stack
                .http
                .request(method.clone(), stack.url(&concrete))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            assert_ne!(status, 405, "{method} {path} is documented but not routed");
            assert!(
                !(status == 404 && text.contains("no such route")),
                "{method} {path} is documented but not routed: {text}"
            );
        }
    }

    // The documented parameter rules are the protocol's.
    let params = doc["paths"][paths::RESOLVE]["get"]["parameters"]
        .as_array()
        .expect("resolve parameters");
    let pattern_of = |name: &str| {
        params
            .iter()
            .find(|p| p["name"] == name)
            .and_then(|p| p["schema"]["pattern"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(pattern_of("workspace_id"), WorkspaceId::PATTERN);
    assert_eq!(pattern_of("provider_name"), ProviderName::PATTERN);
    let id_pattern = &doc["paths"][paths::TOKEN]["get"]["parameters"][0]["schema"]["pattern"];
    assert_eq!(id_pattern, ConnectionId::PATTERN);

    for scheme in ["bearer", "api_key"] {
        assert!(
            doc["components"]["securitySchemes"][scheme].is_object(),
            "{scheme} scheme"
        );
    }
}

#[tokio::test]
async fn the_admin_api_is_documented_by_the_broker_not_the_gateway() {
    let stack = Stack::start().await;
    let gateway_doc = openapi_document(&stack, &stack.gateway_url).await;
    let gateway_paths = gateway_doc["paths"].as_object().expect("paths");
    assert!(
        !gateway_paths.keys().any(|p| p.starts_with("/admin/")),
        "the gateway answers 404 on /admin: it must not advertise it"
    );
    let broker_doc = openapi_document(&stack, &stack.broker.url).await;
    for admin_path in [
        "/admin/v1/providers",
        "/admin/v1/workspaces/{ws}/api-keys",
        "/admin/v1/keys/rotate",
        "/admin/v1/workspaces/{ws}/agents",
    ] {
        assert!(
            broker_doc["paths"][admin_path].is_object(),
            "broker admin {admin_path} missing from the broker's /openapi.json"
        );
    }
    assert!(broker_doc["components"]["securitySchemes"]["admin_token"].is_object());
}

#[tokio::test]
async fn request_ids_are_propagated_or_generated() {
    let stack = Stack::start().await;
    let response = stack
        .http
        .get(stack.url("/healthz"))
        .header("x-request-id", "trace-123.abc")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-123.abc");

    let response = stack
        .http
        .get(stack.url("/nowhere"))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    let generated = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(generated, "bad id with spaces");
    assert!(!generated.is_empty());
    let (_, body) = status_and_json(response).await;
    assert_eq!(
        body["request_id"],
        generated.as_str(),
        "the envelope carries the header's id"
    );
}

#[tokio::test]
async fn broker_outage_is_503_and_readiness_follows_the_broker() {
    let stack = Stack::start().await;
    let (status, body) =
        status_and_json(stack.http.get(stack.url("/readyz")).send().await.unwrap()).await;
    assert_eq!(status, 200, "{body}");

    // A gateway pointed at a closed port: the broker is unreachable.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let gateway = common::serve_gateway(common::test_config(&format!("http://{closed}"))).await;
    let http = reqwest::Client::new();
    let (status, body) =
        status_and_json(http.get(format!("{gateway}/readyz")).send().await.unwrap()).await;
    assert_error(status, &body, 503, "upstream_unavailable");
    let (status, body) = status_and_json(
        http.get(format!(
            "{gateway}/v1/resolve?{}",
            resolve_query(WS, "github")
        ))
        .bearer_auth("nxk_any")
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_error(status, &body, 503, "upstream_unavailable");
    let (status, _) =
        status_and_json(http.get(format!("{gateway}/healthz")).send().await.unwrap()).await;
    assert_eq!(status, 200, "liveness does not depend on the broker");

    let metrics = http
        .get(format!("{gateway}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("nexus_gateway_broker_errors_total{kind=\"unreachable\"} 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn metrics_count_requests_and_cache_hits() {
    let stack = Stack::start().await;
    stack.broker.add_connection(WS, "github").await;
    let (key, _) = stack.broker.new_key(WS).await;
    for _ in 0..3 {
        stack.resolve(&key, &resolve_query(WS, "github")).await;
    }
    stack
        .resolve("nxk_wrong", &resolve_query(WS, "github"))
        .await;
    let response = stack.http.get(stack.url("/metrics")).send().await.unwrap();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    assert!(
        text.contains("nexus_gateway_requests_total{route=\"/v1/resolve\",status=\"200\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("nexus_gateway_requests_total{route=\"/v1/resolve\",status=\"401\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("nexus_gateway_token_cache_hits_total 2"),
        "{text}"
    );
    assert!(
        text.contains("nexus_gateway_token_cache_misses_total 1"),
        "{text}"
    );
    assert!(
        text.contains("nexus_gateway_request_duration_seconds_count{route=\"/v1/resolve\"} 4"),
        "{text}"
    );
    assert!(!text.contains(&key));
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
async fn static_credentials_resolve_and_are_cached_without_expiry() {
    let stack = Stack::start().await;
    stack.broker.add_connection(WS, "static-api").await;
    let (key, _) = stack.broker.new_key(WS).await;
    for _ in 0..3 {
        let (status, body) = stack
            .resolve(
                &key,
                &format!("{}&min_ttl=86400", resolve_query(WS, "static-api")),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["strategy"]["type"], "header");
        assert_eq!(body["credentials"]["api_key"], "sk_static_test");
        assert!(
            body.get("expires_in").is_none(),
            "a static key does not expire: {body}"
        );
    }
    assert_eq!(
        stack.proxy.count(RESOLVE_PATH),
        1,
        "a credential without expiry meets any min_ttl"
    );
}

#[tokio::test]
async fn slow_broker_hits_the_broker_timeout_then_the_request_deadline() {
    // Broker call deadline shorter than the request deadline → 503.
    let stack = Stack::start_with(|c| c.broker_timeout = Duration::from_millis(300)).await;
    stack.broker.add_connection(WS, "github").await;
    let (key, _) = stack.broker.new_key(WS).await;
    stack.proxy.hold(RESOLVE_PATH);
    let (status, body) = stack.resolve(&key, &resolve_query(WS, "github")).await;
    assert_error(status, &body, 503, "upstream_unavailable");
    stack.proxy.release();

    // Request deadline shorter than the broker call deadline → 504.
    let stack = Stack::start_with(|c| c.request_timeout = Duration::from_millis(300)).await;
    stack.broker.add_connection(WS, "github").await;
    let (key, _) = stack.broker.new_key(WS).await;
    stack.proxy.hold(RESOLVE_PATH);
    let (status, body) = stack.resolve(&key, &resolve_query(WS, "github")).await;
    assert_error(status, &body, 504, "upstream_unavailable");
    stack.proxy.release();
    // Nothing half-done: the next request (broker answering again) succeeds.
    let (status, body) = stack.resolve(&key, &resolve_query(WS, "github")).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_refused_internal_token_makes_the_gateway_unready() {
    let stack = Stack::start_with(|c| c.internal_token = "not-the-internal-token".into()).await;
    let (status, body) =
        status_and_json(stack.http.get(stack.url("/readyz")).send().await.unwrap()).await;
    assert_error(status, &body, 503, "upstream_unavailable");
    assert!(
        body["message"].as_str().unwrap().contains("internal token"),
        "{body}"
    );
    assert!(!body.to_string().contains("not-the-internal-token"));
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

#[tokio::test]
async fn the_broker_audits_the_callers_principal_and_request_id() {
    let stack = Stack::start().await;
    stack.broker.add_connection(WS, "github").await;
    let (key, key_id) = stack.broker.new_key(WS).await;
    let response = stack
        .http
        .get(stack.url(&format!("/v1/resolve?{}", resolve_query(WS, "github"))))
        .bearer_auth(&key)
        .header("x-request-id", "audit-probe-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "audit-probe-42");

    // The client's id is kept apart; the stored request id is the server's own and unique
    // (a client cannot make two records share an id, issue 14 item 13).
    let records = stack.broker.audit(WS).await;
    let issued = records
        .iter()
        .find(|r| r["client_request_id"] == "audit-probe-42")
        .unwrap_or_else(|| panic!("no audit record with the client's request id: {records:?}"));
    assert_eq!(issued["principal"], format!("api_key:{key_id}").as_str());
    let server_id = issued["request_id"].as_str().expect("a server request id");
    assert_ne!(server_id, "audit-probe-42");
    assert!(server_id.starts_with("req_"), "{server_id}");
    assert!(!serde_json::to_string(&records).unwrap().contains(&key));
}

/// The same path on a PostgreSQL-backed broker (production's store): keys, a refreshing OAuth
/// connection, concurrent resolves sharing one broker call, revocation.
#[tokio::test]
async fn postgres_backed_broker_serves_the_gateway() {
    let Some(database_url) = common::broker::fresh_postgres_database().await else {
        return;
    };
    let stack = Stack::start_on(Some(database_url), |_| {}).await;
    stack.broker.add_connection(WS, "github").await;
    let (key, key_id) = stack.broker.new_key(WS).await;
    let (other_key, _) = stack.broker.new_key(OTHER_WS).await;

    let query = resolve_query(WS, "github");
    let requests = (0..8).map(|_| stack.resolve(&key, &query));
    let answers = futures::future::join_all(requests).await;
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(body["access_token"], answers[0].1["access_token"]);
    }
    assert_eq!(stack.proxy.count(RESOLVE_PATH), 1);

    let (status, body) = stack
        .resolve(&other_key, &resolve_query(WS, "github"))
        .await;
    assert_error(status, &body, 403, "forbidden");
    stack.broker.revoke_key(WS, &key_id).await;
    let (status, body) = stack.resolve(&key, &resolve_query(WS, "github")).await;
    assert_error(status, &body, 401, "unauthorized");
}
