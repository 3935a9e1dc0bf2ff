//! `authenticated_fetch` to a keep-alive loopback echo server (warm cache, `header` strategy
//! `X-API-Key`, one caller header), side by side with two floors sending the same request:
//! a bare pooled hyper client (the least one HTTP/1.1 round trip costs here), and a pooled
//! reqwest client, the transport `authenticated_fetch` used before it wrote header names as
//! spelled (`src/upstream.rs`). Above the hyper floor: the strategy, the cache, the URL parse,
//! the redirect check and the case map.
//! Run: `cargo bench -p nexus-sdk --bench fetch -- --quick`. Figures go to `BENCHMARKS.md`.

use bytes::Bytes;
use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use nexus_sdk::client::parse_resolve_response;
use nexus_sdk::{CachedToken, ClientOptions, FetchRequest, NexusClient, TokenCache};
use nexus_testkit::EchoServer;
use serde_json::json;
use std::time::{Duration, Instant};

fn upstream_fetch(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let echo = runtime.block_on(EchoServer::start());
    let url = format!("{}/user/repos?per_page=10", echo.url());
    let body = json!({
        "access_token": "k-1", "expires_in": 3600,
        "strategy": {"type": "header", "config": {"header_name": "X-API-Key", "value_prefix": ""}},
        "credentials": {"api_key": "k-1"}
    });
    let response = parse_resolve_response(body.to_string().as_bytes()).expect("valid body");
    let cache = TokenCache::new();
    cache.insert(
        "ws",
        "crm",
        CachedToken::from_response(response, Utc::now(), Instant::now()),
    );
    let client = NexusClient::new(ClientOptions::new("http://127.0.0.1:9", "k")).expect("client");
    let floor = reqwest::Client::builder()
        .http1_title_case_headers()
        .pool_idle_timeout(Duration::from_secs(90))
        .build()
        .expect("reqwest");

    // nodelay as reqwest and `src/upstream.rs` set it (else Nagle's delay is measured).
    let mut tcp = HttpConnector::new();
    tcp.set_nodelay(true);
    let hyper_floor: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(tcp);
    let uri: http::Uri = url.parse().expect("uri");

    let mut group = c.benchmark_group("upstream_fetch");
    group.bench_function("hyper_floor", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let request = http::Request::get(uri.clone())
                    .header("X-Custom-ID", "c-1")
                    .header("X-API-Key", "k-1")
                    .body(Full::new(Bytes::new()))
                    .expect("request");
                let answer = hyper_floor.request(request).await.expect("send");
                let body = answer.into_body().collect().await.expect("body");
                body.to_bytes().len()
            })
        })
    });
    group.bench_function("reqwest_floor", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let answer = floor
                    .get(&url)
                    .header("X-Custom-ID", "c-1")
                    .header("X-API-Key", "k-1")
                    .send()
                    .await
                    .expect("send");
                answer.bytes().await.expect("body").len()
            })
        })
    });
    group.bench_function("authenticated_fetch", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let request = FetchRequest {
                    method: "GET".into(),
                    url: url.clone(),
                    headers: vec![("X-Custom-ID".into(), "c-1".into())],
                    body: None,
                };
                let answer = client
                    .authenticated_fetch(&cache, "ws", "crm", request)
                    .await
                    .expect("fetch");
                answer.body.len()
            })
        })
    });
    group.finish();
    echo.clear_requests();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    targets = upstream_fetch
}
criterion_main!(benches);
