//! Warm `GET /v1/resolve` throughput of the gateway vs a minimal axum server returning the same
//! bytes (the floor: HTTP + routing only).
//!
//! Both run in this process on loopback, behind the same load generator. The gateway sits in
//! front of the real broker (SQLite in a temp dir) with a static-key connection; after one warm-up
//! request, every request is a key-cache hit and a token-cache hit (the broker call counter
//! printed at the end must not move).
//!
//! ```sh
//! cargo run --release -p nexus-gateway --example resolve_bench -- [connections] [seconds]
//! ```

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::routing::get;
use bytes::Bytes;
use nexus_broker::BrokerConfig;
use nexus_broker::crypto::{Keyring, MasterKey};
use nexus_gateway::{Gateway, GatewayConfig};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

const ADMIN: &str = "bench-admin-token";
const INTERNAL: &str = "bench-internal-token";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let connections: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(32);
    let seconds: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(5);

    let dir = tempfile::tempdir()?;
    let broker_url = start_broker(&dir).await?;
    let key = seed(&broker_url).await?;

    let mut config = GatewayConfig::new(broker_url.clone(), INTERNAL);
    config.rate_limit_per_second = 0;
    let gateway_url = serve(Gateway::new(config)?.router()).await?;
    let target = format!("{gateway_url}/v1/resolve?workspace_id=bench&provider_name=static-api");

    let http = reqwest::Client::new();
    let warm = http.get(&target).bearer_auth(&key).send().await?;
    assert_eq!(warm.status(), 200, "warm-up failed");
    let body = warm.bytes().await?;
    let baseline_url = serve(baseline(body.clone())).await?;

    println!(
        "connections={connections} seconds={seconds} body={} bytes",
        body.len()
    );
    let floor = load(
        &format!("{baseline_url}/v1/resolve"),
        None,
        connections,
        seconds,
    )
    .await;
    report("minimal axum, same bytes", &floor, seconds);
    let gateway = load(&target, Some(&key), connections, seconds).await;
    report("gateway warm /v1/resolve", &gateway, seconds);

    let metrics = http
        .get(format!("{gateway_url}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    for line in metrics.lines().filter(|l| {
        l.starts_with("nexus_gateway_token_cache") || l.starts_with("nexus_gateway_key_cache")
    }) {
        println!("  {line}");
    }
    Ok(())
}

/// The floor: a router that answers the same bytes with the same headers.
fn baseline(body: Bytes) -> Router {
    Router::new().route(
        "/v1/resolve",
        get(move || {
            let body = body.clone();
            async move {
                (
                    [
                        (
                            header::CONTENT_TYPE,
                            HeaderValue::from_static("application/json"),
                        ),
                        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                    ],
                    body,
                )
            }
        }),
    )
}

async fn serve(router: Router) -> std::io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(url)
}

async fn start_broker(dir: &tempfile::TempDir) -> Result<String, Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let config = BrokerConfig {
        database_url: format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("broker.db").display()
        ),
        keyring: Some(Keyring::single(MasterKey::generate())),
        admin_token: ADMIN.into(),
        internal_token: INTERNAL.into(),
        public_url: url.clone(),
        ..Default::default()
    };
    let router = nexus_broker::Broker::start(config).await?.router();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(url)
}

/// Workspace `bench`, provider `static-api`, one static-key connection; returns an API key.
async fn seed(broker: &str) -> Result<String, Box<dyn std::error::Error>> {
    let http = reqwest::Client::new();
    let admin = |path: &str, body: Value| {
        http.post(format!("{broker}{path}"))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
    };
    admin("/admin/v1/workspaces", json!({"id": "bench"}))
        .await?
        .error_for_status()?;
    admin(
        "/admin/v1/providers",
        json!({"name": "static-api", "auth_type": "api_key",
               "strategy": {"type": "header", "config": {"header_name": "X-Api-Key"}}}),
    )
    .await?
    .error_for_status()?;
    admin(
        "/admin/v1/workspaces/bench/connections/import",
        json!({"provider_name": "static-api", "kind": "api_key", "secret": "sk_bench"}),
    )
    .await?
    .error_for_status()?;
    let created: Value = admin("/admin/v1/workspaces/bench/api-keys", json!({}))
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(created["api_key"].as_str().ok_or("no api_key")?.to_owned())
}

/// `connections` loops issuing requests back to back for `seconds`; returns every latency.
async fn load(url: &str, key: Option<&str>, connections: usize, seconds: u64) -> Vec<Duration> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (url, key, stop) = (url.to_owned(), key.map(str::to_owned), stop.clone());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let mut request = http.get(&url);
                if let Some(key) = &key {
                    request = request.bearer_auth(key);
                }
                match request.send().await {
                    Ok(response) if response.status() == 200 => {
                        let _ = response.bytes().await;
                        latencies.push(started.elapsed());
                    }
                    Ok(response) => panic!("status {}", response.status()),
                    Err(err) => panic!("request failed: {err}"),
                }
            }
            latencies
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap_or_default());
    }
    all
}

fn report(label: &str, latencies: &[Duration], seconds: u64) {
    let mut sorted = latencies.to_vec();
    sorted.sort();
    let pct = |p: f64| {
        sorted
            .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "{label:<28} {:>9.0} req/s   p50 {:>8.3} ms   p99 {:>8.3} ms   ({} requests)",
        sorted.len() as f64 / seconds as f64,
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        sorted.len()
    );
}
