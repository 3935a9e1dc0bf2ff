//! Failure injection on the token endpoint and the HTTP control API.

mod common;

use std::time::Duration;

use common::*;
use nexus_testkit::{Failure, OAuthServer, OAuthServerOptions};
use serde_json::json;

async fn server() -> OAuthServer {
    OAuthServer::start(OAuthServerOptions::default()).await
}

/// Injects `failure`, refreshes once, and checks the failure did not consume the refresh token
/// (the next, normal refresh succeeds). Returns the failed response.
async fn refresh_with_failure(oauth: &OAuthServer, failure: Failure) -> reqwest::Response {
    let (_, rt) = oauth.issue_tokens_directly(["read"]);
    oauth.inject_failure(failure);
    let response = refresh(oauth, &rt, None).await;
    assert!(
        oauth.introspect(&rt).active,
        "an injected error must not rotate the token"
    );
    assert_eq!(
        refresh(oauth, &rt, None).await.status(),
        200,
        "the queue held one failure"
    );
    response
}

#[tokio::test]
async fn server_error_answers_the_status_without_processing() {
    let oauth = server().await;
    let (status, body) =
        json_of(refresh_with_failure(&oauth, Failure::ServerError(503)).await).await;
    assert_eq!(status, 503);
    assert_eq!(body["error"], "temporarily_unavailable");
    let (status, _) = json_of(refresh_with_failure(&oauth, Failure::ServerError(500)).await).await;
    assert_eq!(status, 500);
}

#[tokio::test]
async fn rate_limited_sends_retry_after() {
    let oauth = server().await;
    let failure = Failure::RateLimited {
        retry_after: Duration::from_secs(7),
    };
    let response = refresh_with_failure(&oauth, failure).await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "7");
}

#[tokio::test]
async fn invalid_grant_and_invalid_client_are_injectable() {
    let oauth = server().await;
    let (status, body) = json_of(refresh_with_failure(&oauth, Failure::InvalidGrant).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, body) = json_of(refresh_with_failure(&oauth, Failure::InvalidClient).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    // Injected errors are not counted as real refresh rejections.
    assert_eq!(oauth.stats().refresh_rejected, 0);
}

#[tokio::test]
async fn html_error_page_and_garbage_json() {
    let oauth = server().await;
    let response = refresh_with_failure(&oauth, Failure::HtmlErrorPage).await;
    assert_eq!(response.status(), 502);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(response.text().await.unwrap().contains("<html>"));

    let response = refresh_with_failure(&oauth, Failure::GarbageJson).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let text = response.text().await.unwrap();
    assert!(
        serde_json::from_str::<serde_json::Value>(&text).is_err(),
        "{text}"
    );
}

#[tokio::test]
async fn no_new_refresh_token_keeps_the_old_one_valid() {
    let oauth = server().await;
    let (_, rt) = oauth.issue_tokens_directly(["read"]);
    oauth.inject_failure(Failure::NoNewRefreshToken);
    let (status, body) = json_of(refresh(&oauth, &rt, None).await).await;
    assert_eq!(status, 200);
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert!(oauth.introspect(str_field(&body, "access_token")).active);
    // The old refresh token was not rotated away, so it works again (and now rotates).
    let (status, body) = json_of(refresh(&oauth, &rt, None).await).await;
    assert_eq!(status, 200);
    assert!(body.get("refresh_token").is_some());
}

#[tokio::test]
async fn no_new_refresh_token_on_code_exchange_issues_access_only() {
    let oauth = server().await;
    let code = obtain_code(&oauth, "read").await;
    oauth.inject_failure(Failure::NoNewRefreshToken);
    let (status, body) = json_of(redeem(&oauth, &code, VERIFIER).await).await;
    assert_eq!(status, 200);
    assert!(body.get("refresh_token").is_none());
}

#[tokio::test]
async fn missing_expires_in_still_issues_a_working_token() {
    let oauth = server().await;
    let (_, rt) = oauth.issue_tokens_directly(["read"]);
    oauth.inject_failure(Failure::MissingExpiresIn);
    let (status, body) = json_of(refresh(&oauth, &rt, None).await).await;
    assert_eq!(status, 200);
    assert!(body.get("expires_in").is_none(), "{body}");
    assert!(oauth.introspect(str_field(&body, "access_token")).active);
}

#[tokio::test]
async fn slow_holds_the_response_then_processes_normally() {
    let oauth = server().await;
    let (_, rt) = oauth.issue_tokens_directly(["read"]);

    // While the response is held, the request has arrived but is neither answered nor processed.
    oauth.inject_failure(Failure::Slow(Duration::from_secs(600)));
    let held = tokio::spawn({
        let (url, id, secret, rt) = (
            oauth.token_url(),
            oauth.client_id(),
            oauth.client_secret(),
            rt.clone(),
        );
        async move {
            let form = [
                ("grant_type", "refresh_token"),
                ("refresh_token", rt.as_str()),
            ];
            client()
                .post(url)
                .basic_auth(id, Some(secret))
                .form(&form)
                .send()
                .await
        }
    });
    let stats = oauth.wait_for_token_requests(1, WAIT).await.unwrap();
    assert_eq!(stats.failures_injected, 1);
    assert!(
        oauth.token_request_log().is_empty(),
        "the slow request has not been answered"
    );
    assert!(oauth.introspect(&rt).active, "not processed yet");
    assert!(!held.is_finished());
    held.abort(); // the client gives up

    // A short delay is followed by normal processing.
    oauth.inject_failure(Failure::Slow(Duration::from_millis(20)));
    let (status, body) = json_of(refresh(&oauth, &rt, None).await).await;
    assert_eq!(status, 200, "{body}");
    assert!(!oauth.introspect(&rt).active, "rotated after the delay");
    let log = oauth.token_request_log();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].injected_failure.as_deref(), Some("slow"));
}

#[tokio::test]
async fn failures_are_consumed_in_order_one_per_request() {
    let oauth = server().await;
    let (_, rt) = oauth.issue_tokens_directly(["read"]);
    oauth.inject_failures([
        Failure::ServerError(503),
        Failure::HtmlErrorPage,
        Failure::InvalidClient,
    ]);
    assert_eq!(oauth.stats().failures_pending, 3);
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(refresh(&oauth, &rt, None).await.status().as_u16());
    }
    assert_eq!(statuses, [503, 502, 401, 200]);
    let kinds: Vec<_> = oauth
        .token_request_log()
        .into_iter()
        .map(|r| r.injected_failure)
        .collect();
    assert_eq!(
        kinds,
        [
            Some("server_error".to_owned()),
            Some("html_error_page".to_owned()),
            Some("invalid_client".to_owned()),
            None
        ]
    );
    let stats = oauth.stats();
    assert_eq!((stats.failures_injected, stats.failures_pending), (3, 0));

    oauth.inject_failures([Failure::InvalidGrant, Failure::InvalidGrant]);
    oauth.clear_failures();
    assert_eq!(oauth.stats().failures_pending, 0);
}

#[tokio::test]
async fn failures_can_be_queued_over_http() {
    let oauth = server().await;
    let (_, rt) = oauth.issue_tokens_directly(["read"]);
    let url = format!("{}/_control/failures", oauth.url());
    let body = json!([
        {"kind": "server_error", "status": 503},
        {"kind": "rate_limited", "retry_after_secs": 3},
        {"kind": "missing_expires_in"},
    ]);
    let (status, answer) = json_of(client().post(&url).json(&body).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(answer["failures_pending"], 3);
    // A single object and the wrapped form are accepted too.
    let single = json!({"kind": "garbage_json"});
    assert_eq!(
        client()
            .post(&url)
            .json(&single)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let wrapped = json!({"failures": [{"kind": "slow", "delay_ms": 1}]});
    assert_eq!(
        client()
            .post(&url)
            .json(&wrapped)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let unknown = json!({"kind": "explode"});
    assert!(
        client()
            .post(&url)
            .json(&unknown)
            .send()
            .await
            .unwrap()
            .status()
            .is_client_error()
    );

    let statuses = [
        refresh(&oauth, &rt, None).await.status().as_u16(),
        refresh(&oauth, &rt, None).await.status().as_u16(),
    ];
    assert_eq!(statuses, [503, 429]);
    let (_, stats) = json_of(
        client()
            .get(format!("{}/_control/stats", oauth.url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(stats["failures_pending"], 3);
    assert_eq!(stats["token_requests"], 2);

    assert!(
        client()
            .delete(&url)
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    assert_eq!(oauth.stats().failures_pending, 0);
    let (_, log) = json_of(
        client()
            .get(format!("{}/_control/token-requests", oauth.url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(log[0]["injected_failure"], "server_error");
    assert_eq!(log[1]["status"], 429);
}

#[tokio::test]
async fn wait_endpoint_returns_when_the_counter_is_reached() {
    let oauth = server().await;
    let (_, rt) = oauth.issue_tokens_directly(["read"]);
    let wait_url = format!(
        "{}/_control/wait?token_requests=2&refresh_accepted=1&timeout_ms=10000",
        oauth.url()
    );
    let waiter = tokio::spawn(async move {
        client()
            .get(wait_url)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    // Make sure the waiter is not answered early: it needs two token requests.
    assert_eq!(refresh(&oauth, "rt_unknown", None).await.status(), 400);
    assert!(!waiter.is_finished());
    assert_eq!(refresh(&oauth, &rt, None).await.status(), 200);
    assert_eq!(waiter.await.unwrap(), 200);

    let timeout_url = format!(
        "{}/_control/wait?token_requests=99&timeout_ms=50",
        oauth.url()
    );
    let (status, body) = json_of(client().get(timeout_url).send().await.unwrap()).await;
    assert_eq!(status, 408);
    assert_eq!(body["stats"]["token_requests"], 2);
    let bad_url = format!("{}/_control/wait?no_such_counter=1", oauth.url());
    assert_eq!(client().get(bad_url).send().await.unwrap().status(), 400);
}

#[tokio::test]
async fn rust_wait_times_out_with_the_last_stats() {
    let oauth = server().await;
    let error = oauth
        .wait_for_token_requests(1, Duration::from_millis(20))
        .await
        .unwrap_err();
    assert_eq!(error.last.token_requests, 0);
    assert!(error.to_string().contains("timed out"));
}

#[tokio::test]
async fn seeding_expiry_revocation_and_config_over_http() {
    let oauth = server().await;
    let base = oauth.url();
    let (status, issued) = json_of(
        client()
            .post(format!("{base}/_control/issue"))
            .json(&json!({"scopes": ["read", "write"]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    let access = str_field(&issued, "access_token").to_owned();
    let rt = str_field(&issued, "refresh_token").to_owned();
    assert_eq!(issued["scope"], "read write");
    assert!(oauth.introspect(&access).active);

    let expire = client()
        .post(format!("{base}/_control/expire"))
        .json(&json!({"access_token": access}))
        .send();
    assert_eq!(json_of(expire.await.unwrap()).await.1["expired"], 1);
    assert!(!oauth.introspect(&access).active);

    let config = json!({"access_token_ttl_secs": 42, "client_auth": "client_secret_post"});
    let response = client()
        .post(format!("{base}/_control/config"))
        .json(&config)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    assert_eq!(
        refresh(&oauth, &rt, None).await.status(),
        401,
        "basic is no longer allowed"
    );
    let bad_config = json!({"no_such_setting": 1});
    let response = client()
        .post(format!("{base}/_control/config"))
        .json(&bad_config)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error());

    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt.as_str()),
        ("client_id", "nexus-test-client"),
        ("client_secret", "nexus-test-secret"),
    ];
    let (status, body) = json_of(
        client()
            .post(oauth.token_url())
            .form(&form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["expires_in"], 42);

    let (_, revoked) = json_of(
        client()
            .post(format!("{base}/_control/revoke-all"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        revoked["revoked"], 2,
        "one access and one refresh token were still live"
    );
    assert!(!oauth.introspect(str_field(&body, "refresh_token")).active);
}

#[tokio::test]
async fn absurd_control_values_are_clamped_not_panics() {
    let oauth = server().await;
    let base = oauth.url();
    let config = json!({"access_token_ttl_secs": u64::MAX});
    let response = client()
        .post(format!("{base}/_control/config"))
        .json(&config)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let code = obtain_code(&oauth, "openid").await;
    let (status, body) = json_of(redeem(&oauth, &code, VERIFIER).await).await;
    assert_eq!(status, 200, "{body}");
    assert!(oauth.introspect(str_field(&body, "access_token")).active);

    // A "server error" with a non-error status is answered as 503.
    let (_, rt) = oauth.issue_tokens_directly(["read"]);
    oauth.inject_failures([Failure::ServerError(200), Failure::ServerError(42)]);
    assert_eq!(refresh(&oauth, &rt, None).await.status(), 503);
    assert_eq!(refresh(&oauth, &rt, None).await.status(), 503);
}
