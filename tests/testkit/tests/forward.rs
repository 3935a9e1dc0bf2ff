//! The bare forwarder (the benchmark's floor) and the echo server's bounded record, over real
//! loopback HTTP.

mod common;

use common::*;
use nexus_testkit::echo::KEPT_REQUESTS;
use nexus_testkit::{EchoServer, Forwarder, LOOPBACK_ANY_PORT};

/// The forwarder sends method, path, query, headers and body to the upstream, and the
/// upstream's status and body back: the floor does the same work per call as a proxy.
#[tokio::test]
async fn the_forwarder_passes_the_request_and_the_answer_through() {
    let echo = EchoServer::start().await;
    let forwarder = Forwarder::try_start_on(LOOPBACK_ANY_PORT, &echo.url())
        .await
        .expect("forwarder");
    let response = client()
        .post(format!("{}/v1/items/7?a=1&b=2", forwarder.url()))
        .header("X-Custom", "yes")
        .body("payload")
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_eq!(status, 200);
    assert_eq!(body["method"], "POST");
    assert_eq!(body["path"], "/v1/items/7");
    assert_eq!(body["raw_query"], "a=1&b=2");
    assert_eq!(body["headers"]["x-custom"], "yes");
    assert_eq!(body["headers"]["host"], echo.addr().to_string());
    assert_eq!(body["body"], "payload");

    let answer = client()
        .get(format!("{}/status/503", forwarder.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 503);
    forwarder.shutdown().await;
}

/// A long run keeps only the newest requests (memory stays bounded) but counts them all, so
/// waiting for a count still works past the bound.
#[tokio::test]
async fn the_echo_server_keeps_the_newest_requests_and_counts_all() {
    let echo = EchoServer::start().await;
    let http = client();
    let total = KEPT_REQUESTS + 5;
    for i in 0..total {
        let response = http
            .get(format!("{}/n/{i}", echo.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
    }
    echo.wait_for_requests(total as u64, WAIT)
        .await
        .expect("every request is counted");
    assert_eq!(echo.recorded_count(), total as u64);
    let kept = echo.requests();
    assert_eq!(kept.len(), KEPT_REQUESTS);
    assert_eq!(kept[0].request.path, "/n/5", "the oldest five were dropped");
    assert_eq!(
        kept[KEPT_REQUESTS - 1].request.path,
        format!("/n/{}", total - 1)
    );
    echo.clear_requests();
    assert_eq!(echo.recorded_count(), 0);
    assert!(echo.requests().is_empty());
}
