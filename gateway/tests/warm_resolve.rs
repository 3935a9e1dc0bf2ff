//! The warm `GET /v1/resolve` (`nexus_gateway::warm_resolve`), answered in the middleware
//! (`axum::serve`) or by the gateway's front before routing (`nexus_listener`, as `nexus serve`
//! serves it), answers exactly as the handler does: the same status, headers, body, access line
//! and metrics for the same requests, a caller's request id echoed, a rate-limited key refused
//! with 429 and a revoked key refused with 401 while both caches are warm. Real gateways (the
//! warm path in the middleware, in the front, off) in front of real brokers (SQLite) on
//! loopback.

mod common;

use common::Captured;

use common::broker::TestBroker;
use common::{INTERNAL_TOKEN, Stack, test_config, wait_until};
use nexus_gateway::Gateway;
use nexus_gateway::access_log::AccessLog;
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

const WS: &str = "acme";
const QUERY: &str = "workspace_id=acme&provider_name=static-api";

/// A gateway with production cache settings, a tight rate limit and a captured access log.
struct Side {
    stack: Stack,
    log: AccessLog,
    captured: Captured,
    key: String,
    connection: String,
}

impl Side {
    async fn start(served: Served) -> Self {
        let captured = Captured::default();
        let log = AccessLog::spawn(captured.clone(), 1024).unwrap();
        let handle = log.clone();
        let adjust = move |config: &mut nexus_gateway::GatewayConfig| {
            config.access_log = Some(handle);
            config.key_cache_ttl = Duration::from_secs(10);
            config.token_cache_max_ttl = Duration::from_secs(300);
            config.rate_limit_per_second = 1;
            config.rate_limit_burst = 5;
            config.warm_resolve = served != Served::Handler;
        };
        let stack = match served {
            Served::Front => Stack::start_fronted(adjust).await,
            _ => Stack::start_with(adjust).await,
        };
        let connection = stack.broker.add_connection(WS, "static-api").await;
        let (key, _) = stack.broker.new_key(WS).await;
        Self {
            stack,
            log,
            captured,
            key,
            connection,
        }
    }

    /// A resolve with the key in `header` (`authorization` or `x-api-key`) and, if given, a
    /// request id: status, headers (in order, without `date`) and JSON body.
    async fn resolve(&self, header: &str, request_id: Option<&str>) -> Answer {
        let value = match header {
            "authorization" => format!("Bearer {}", self.key),
            _ => self.key.clone(),
        };
        let mut request = self
            .stack
            .http
            .get(self.stack.url(&format!("/v1/resolve?{QUERY}")))
            .header(header, value);
        if let Some(id) = request_id {
            request = request.header("x-request-id", id);
        }
        let response = request.send().await.expect("gateway reachable");
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter(|(name, _)| *name != "date")
            .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
            .collect();
        let mut body: Value = response.json().await.expect("JSON body");
        // Each side's broker made its own connection id.
        if let Some(id) = body.get_mut("connection_id") {
            assert_eq!(*id, self.connection.as_str());
            *id = Value::from("the connection");
        }
        Answer {
            status,
            headers,
            body,
        }
    }

    /// The access lines so far, without what differs between any two requests (time, latency).
    async fn access_lines(&self, count: u64) -> Vec<Value> {
        wait_until("the access lines", || self.log.written() >= count).await;
        let text = String::from_utf8(self.captured.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|line| {
                let mut line: Value = serde_json::from_str(line).unwrap();
                line.as_object_mut().unwrap().remove("timestamp");
                let fields = line["fields"].as_object_mut().unwrap();
                assert!(fields.remove("latency_us").is_some_and(|l| l.is_u64()));
                line
            })
            .collect()
    }

    /// The metrics that count (no latencies), and the warm path's own counter apart.
    async fn metrics(&self) -> (Vec<String>, u64) {
        let text = metrics_text(&self.stack.http, &self.stack.gateway_url).await;
        let mut warm = None;
        let mut counted = Vec::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            if let Some(n) = line.strip_prefix("nexus_gateway_resolve_warm_path_total ") {
                warm = Some(n.parse().unwrap());
            } else if !line.starts_with("nexus_gateway_request_duration_seconds")
                && !line.starts_with("nexus_gateway_access_log_written_total")
            {
                counted.push(line.to_owned());
            }
        }
        (counted, warm.expect("the warm path's counter"))
    }
}

/// Who answers a warm resolve.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Served {
    /// The middleware (`axum::serve`, no front).
    Edge,
    /// The front, before routing (`nexus_listener`, as `nexus serve`).
    Front,
    /// The handler: the warm path off.
    Handler,
}

#[derive(Debug, PartialEq)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Answer {
    /// The generated request id taken out (it differs per request): checked, then returned.
    fn take_generated_id(&mut self) -> String {
        let at = self
            .headers
            .iter()
            .position(|(name, _)| name == "x-request-id")
            .expect("x-request-id");
        let (_, id) = self.headers.remove(at);
        assert!(
            id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{id}"
        );
        if let Some(in_body) = self.body.as_object_mut().unwrap().remove("request_id") {
            assert_eq!(in_body, id.as_str());
        }
        id
    }
}

/// The same requests to both gateways: one cold, three warm (a caller's id, a generated one,
/// the key in `X-API-Key`), then warm ones until the rate limit refuses.
async fn run(side: &Side) -> Run {
    let mut answers = vec![side.resolve("authorization", None).await];
    answers[0].take_generated_id();
    answers.push(side.resolve("authorization", Some("probe-warm-1")).await);
    let mut generated = side.resolve("authorization", None).await;
    let id = generated.take_generated_id();
    answers.push(generated);
    let by_header = side.resolve("x-api-key", Some("probe-warm:2")).await;
    answers.push(by_header);
    for answer in &answers {
        assert_eq!(answer.status, 200, "{answer:?}");
    }
    let mut lines = side.access_lines(4).await;
    assert_eq!(lines[2]["fields"]["request_id"], id.as_str());
    for at in [0, 2] {
        lines[at]["fields"]
            .as_object_mut()
            .unwrap()
            .remove("request_id");
    }
    let (metrics, warm) = side.metrics().await;

    // Burst 5 at 1/s: within a few more requests, a 429 (a slow machine may earn a refill).
    let mut refused = None;
    for _ in 0..20 {
        let answer = side.resolve("authorization", Some("probe-limit")).await;
        if answer.status != 200 {
            refused = Some(answer);
            break;
        }
    }
    let refused = refused.expect("the rate limit refuses");
    (answers, refused, lines, metrics, warm)
}

#[tokio::test]
async fn the_warm_path_answers_as_the_handler_does() {
    let (edge, front, handler) = tokio::join!(
        Side::start(Served::Edge),
        Side::start(Served::Front),
        Side::start(Served::Handler)
    );
    let by_handler = run(&handler).await;
    assert_eq!(by_handler.4, 0, "the handler side has no warm path");
    answers_as_the_handler(&edge, &by_handler).await;
    answers_as_the_handler(&front, &by_handler).await;
}

type Run = (Vec<Answer>, Answer, Vec<Value>, Vec<String>, u64);

async fn answers_as_the_handler(warm: &Side, by_handler: &Run) {
    let (warm_answers, warm_refused, warm_lines, warm_metrics, warm_count) = run(warm).await;
    let (answers, refused, lines, metrics, _) = by_handler;
    let (answers, refused, lines, metrics) = (&answers[..], refused, &lines[..], &metrics[..]);

    // Both caches were warm from the second request on, and the warm side took its path.
    assert_eq!(warm_count, 3, "warm resolves answered without the handler");
    assert_eq!(warm_answers, answers);
    let header = |answer: &Answer, name: &str| {
        answer
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.to_owned())
    };
    let ok = &warm_answers[1];
    assert_eq!(header(ok, "x-request-id").unwrap(), "probe-warm-1");
    assert_eq!(header(ok, "cache-control").unwrap(), "no-store");
    assert_eq!(header(ok, "content-type").unwrap(), "application/json");
    assert_eq!(ok.body["access_token"], "sk_static_test");
    let by_header = &warm_answers[3];
    assert_eq!(header(by_header, "x-request-id").unwrap(), "probe-warm:2");

    assert_eq!(warm_lines, lines);
    assert_eq!(warm_lines[1]["fields"]["route"], "/v1/resolve");
    assert_eq!(warm_lines[1]["fields"]["workspace"], WS);
    assert_eq!(warm_lines[1]["fields"]["request_id"], "probe-warm-1");
    assert_eq!(warm_metrics, metrics);
    for counted in [
        "nexus_gateway_requests_total{route=\"/v1/resolve\",status=\"200\"} 4",
        "nexus_gateway_key_cache_hits_total 3",
        "nexus_gateway_token_cache_hits_total 3",
    ] {
        assert!(
            warm_metrics.iter().any(|l| l == counted),
            "{warm_metrics:?}"
        );
    }

    // The refusal: 429, Retry-After, the envelope with the caller's id; from the warm path.
    assert_eq!(&warm_refused, refused);
    assert_eq!(warm_refused.status, 429);
    assert_eq!(warm_refused.body["error"], "rate_limited");
    assert_eq!(warm_refused.body["request_id"], "probe-limit");
    assert!(
        warm_refused
            .headers
            .iter()
            .any(|(n, v)| n == "retry-after" && v.parse::<u64>().is_ok_and(|s| s >= 1)),
        "{warm_refused:?}"
    );
    let (_, warm_after) = warm.metrics().await;
    // The writer thread may not have written the refusal's line yet when its answer arrived.
    wait_until("the refusal's access line", || {
        let text = warm.captured.0.lock().unwrap();
        String::from_utf8_lossy(&text).contains("\"status\":429")
    })
    .await;
    let warm_lines = warm.access_lines(warm.log.written()).await;
    let resolves: Vec<&Value> = warm_lines
        .iter()
        .map(|line| &line["fields"])
        .filter(|fields| fields["route"] == "/v1/resolve")
        .collect();
    let last = resolves.last().unwrap();
    assert_eq!(last["status"], 429);
    assert_eq!(last["workspace"], WS);
    assert_eq!(last["request_id"], "probe-limit");
    // Every request after the first three warm ones, the refused one included, took the path.
    let limited = resolves.len() as u64 - 4;
    assert_eq!(warm_after, 3 + limited);
}

/// A gateway following the broker's revocation stream, with production cache settings.
async fn gateway_with_feed(broker: &TestBroker, served: Served) -> (Gateway, String) {
    let mut config = test_config(&broker.url);
    config.key_cache_ttl = Duration::from_secs(10);
    config.token_cache_max_ttl = Duration::from_secs(300);
    config.revocation_feed = true;
    let gateway = Gateway::new(config).expect("gateway config");
    let url = if served == Served::Front {
        common::serve_fronted(&gateway).await
    } else {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let router = gateway.router();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        url
    };
    wait_until("the revocation stream", || {
        gateway.revocation_feed_connected()
    })
    .await;
    (gateway, url)
}

/// The gateway's `/metrics` page.
async fn metrics_text(http: &reqwest::Client, url: &str) -> String {
    http.get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn warm_count(http: &reqwest::Client, url: &str) -> u64 {
    metrics_text(http, url)
        .await
        .lines()
        .find_map(|l| l.strip_prefix("nexus_gateway_resolve_warm_path_total "))
        .expect("the warm path's counter")
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_key_revoked_while_cached_is_refused() {
    for served in [Served::Edge, Served::Front] {
        a_key_revoked_while_cached_is_refused_by(served).await;
    }
}

async fn a_key_revoked_while_cached_is_refused_by(served: Served) {
    let broker = TestBroker::start(INTERNAL_TOKEN).await;
    let (_gateway, url) = gateway_with_feed(&broker, served).await;
    broker.add_connection(WS, "static-api").await;
    let (key, key_id) = broker.new_key(WS).await;
    let http = reqwest::Client::new();
    let resolve = || {
        http.get(format!("{url}/v1/resolve?{QUERY}"))
            .bearer_auth(&key)
            .send()
    };
    for _ in 0..3 {
        assert_eq!(resolve().await.unwrap().status(), 200);
    }
    assert_eq!(warm_count(&http, &url).await, 2, "the key was served warm");

    broker.revoke_key(WS, &key_id).await;
    // The feed empties the caches; the key cache would have kept the key for 10 s.
    let revoked = Instant::now();
    loop {
        let status = resolve().await.unwrap().status().as_u16();
        if status != 200 {
            assert_eq!(status, 401);
            break;
        }
        assert!(revoked.elapsed() < Duration::from_secs(5), "still served");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Refused again, now from the key cache's remembered verdict.
    let response = resolve().await.unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized");
}

#[tokio::test]
async fn the_size_limits_refuse_warm_requests_too() {
    for served in [Served::Edge, Served::Front] {
        the_size_limits_refuse_warm_requests_by(served).await;
    }
}

async fn the_size_limits_refuse_warm_requests_by(served: Served) {
    let adjust = |config: &mut nexus_gateway::GatewayConfig| {
        config.key_cache_ttl = Duration::from_secs(10);
        config.token_cache_max_ttl = Duration::from_secs(300);
        config.max_header_bytes = 4096;
        config.max_body_bytes = 1024;
    };
    let stack = match served {
        Served::Front => Stack::start_fronted(adjust).await,
        _ => Stack::start_with(adjust).await,
    };
    stack.broker.add_connection(WS, "static-api").await;
    let (key, _) = stack.broker.new_key(WS).await;
    let resolve = || {
        stack
            .http
            .get(stack.url(&format!("/v1/resolve?{QUERY}")))
            .bearer_auth(&key)
    };
    for _ in 0..2 {
        assert_eq!(resolve().send().await.unwrap().status(), 200);
    }
    assert_eq!(warm_count(&stack.http, &stack.gateway_url).await, 1);

    let padded = resolve().header("x-padding", "p".repeat(8192));
    let (status, body) = common::status_and_json(padded.send().await.unwrap()).await;
    common::assert_error(status, &body, 431, "payload_too_large");
    let with_body = resolve().body(vec![b'x'; 2048]);
    let (status, body) = common::status_and_json(with_body.send().await.unwrap()).await;
    common::assert_error(status, &body, 413, "payload_too_large");
    assert_eq!(warm_count(&stack.http, &stack.gateway_url).await, 1);
}
