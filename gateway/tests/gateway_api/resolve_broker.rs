//! The resolve path against the broker: shared concurrent resolves, rate limits, static
//! credentials, broker timeouts/outages/refusals, the broker's audit, and the PostgreSQL store.

use super::common::{self, Stack, assert_error, status_and_json, wait_until};
use super::{OTHER_WS, WS, resolve_query};
use nexus_protocol::internal::{RESOLVE_PATH, VERIFY_API_KEY_PATH};
use serde_json::json;
use std::time::Duration;

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
async fn broker_outage_is_503_and_readiness_follows_the_broker() {
    let stack = Stack::start().await;
    let (status, body) =
        status_and_json(stack.http.get(stack.url("/readyz")).send().await.unwrap()).await;
    assert_eq!(status, 200, "{body}");

    // A gateway pointed at a closed port: the broker is unreachable.
    let closed = nexus_testkit::RefusingPort::new();
    let gateway = common::serve_gateway(common::test_config(&closed.http_url())).await;
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
