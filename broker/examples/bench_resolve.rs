//! Load measurement of the broker's resolve path (not a test; see BENCHMARKS.md).
//!
//! Starts a broker in this process on 127.0.0.1:0 (SQLite in a temp dir, or PostgreSQL when
//! `NEXUS_BENCH_DATABASE_URL` is set: a fresh database is created there), seeds one OAuth
//! connection at the testkit provider, then sends `POST /internal/v1/resolve` from
//! `CONCURRENCY` tasks, `REQUESTS` in total, and prints throughput and latency percentiles.
//! Every resolve is a warm one (valid token: database read, decrypt, audit write).
//!
//! ```sh
//! cargo run --release -p nexus-broker --example bench_resolve -- [REQUESTS] [CONCURRENCY]
//! ```
//!
//! `NEXUS_DATABASE_MAX_CONNECTIONS` sets the broker's pool size and `TOKIO_WORKER_THREADS` the
//! runtime's workers (load client and broker share them), for sizing experiments.
//!
//! Seeded mode (`bench_resolve/seeded.rs`): against databases of 1k and 1M connections, side
//! by side, on PostgreSQL (`NEXUS_BENCH_DATABASE_URL` required):
//!
//! ```sh
//! cargo run -p nexus-broker --example bench_resolve -- seeded [REQUESTS] [CONCURRENCY] [SIZES]
//! ```

#[path = "bench_resolve/seeded.rs"]
mod seeded;

use nexus_broker::crypto::{Keyring, MasterKey};
use nexus_broker::{Broker, BrokerConfig};
use nexus_testkit::{OAuthServer, OAuthServerOptions};
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("seeded") {
        args.next();
        return seeded::run(args).await;
    }
    let requests: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5000);
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(16);
    let dir = tempfile::tempdir()?;
    let (label, database_url) = match std::env::var("NEXUS_BENCH_DATABASE_URL") {
        Ok(server) => ("postgres", fresh_pg_database(&server).await?),
        Err(_) => (
            "sqlite",
            format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("bench.db").display()
            ),
        ),
    };

    let oauth = OAuthServer::start(OAuthServerOptions::default()).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let config = BrokerConfig {
        database_url,
        keyring: Some(Keyring::single(MasterKey::generate())),
        admin_token: "bench-admin".into(),
        internal_token: "bench-internal".into(),
        public_url: url.clone(),
        // Pool size experiments without a rebuild (the same variable `nexus serve` reads).
        database_max_connections: std::env::var("NEXUS_DATABASE_MAX_CONNECTIONS")
            .ok()
            .and_then(|n| n.parse().ok()),
        ..Default::default()
    };
    let broker = Broker::start(config).await?;
    let router = broker.router();
    tokio::spawn(async move { axum::serve(listener, router).await });

    let http = reqwest::Client::new();
    let admin = |path: &str| http.post(format!("{url}{path}")).bearer_auth("bench-admin");
    admin("/admin/v1/workspaces")
        .json(&json!({"id": "w1"}))
        .send()
        .await?
        .error_for_status()?;
    let provider = json!({"name": "bench", "client_id": oauth.client_id(), "client_secret": oauth.client_secret(),
        "auth_url": oauth.authorize_url(), "token_url": oauth.token_url()});
    admin("/admin/v1/providers")
        .json(&provider)
        .send()
        .await?
        .error_for_status()?;
    let (_, refresh) = oauth.issue_tokens_directly(["read"]);
    admin("/admin/v1/workspaces/w1/connections/import")
        .json(&json!({"provider_name": "bench", "kind": "refresh_token", "secret": refresh}))
        .send()
        .await?
        .error_for_status()?;

    let body = json!({"principal": {"kind": "api_key", "workspace_id": "w1", "key_id": "k"}, "workspace_id": "w1", "provider_name": "bench"});
    let resolve = {
        let (http, url, body) = (http.clone(), url.clone(), body.clone());
        move || {
            let (http, url, body) = (http.clone(), url.clone(), body.clone());
            async move {
                let started = Instant::now();
                let resp = http
                    .post(format!("{url}/internal/v1/resolve"))
                    .bearer_auth("bench-internal")
                    .json(&body)
                    .send()
                    .await;
                let ok = matches!(&resp, Ok(r) if r.status().is_success());
                if let Ok(r) = resp {
                    let _ = r.bytes().await;
                }
                (ok, started.elapsed())
            }
        }
    };
    // Warm up (the first resolve refreshes).
    for _ in 0..50 {
        resolve().await;
    }

    let started = Instant::now();
    let per_task = requests / concurrency;
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let resolve = resolve.clone();
            tokio::spawn(async move {
                let mut out = Vec::with_capacity(per_task);
                for _ in 0..per_task {
                    out.push(resolve().await);
                }
                out
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = Vec::new();
    let mut failures = 0;
    for t in tasks {
        for (ok, d) in t.await? {
            failures += usize::from(!ok);
            latencies.push(d);
        }
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "{label}: {} resolves, concurrency {concurrency}, {failures} failed, {:.0} req/s, p50 {:?}, p90 {:?}, p99 {:?}, refreshes at the provider: {}",
        latencies.len(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.90),
        pct(0.99),
        oauth.stats().refresh_accepted
    );
    Ok(())
}

pub(crate) async fn fresh_pg_database(server: &str) -> Result<String, Box<dyn std::error::Error>> {
    use sqlx::Executor;
    sqlx::any::install_default_drivers();
    let name = format!("nexus_broker_bench_{}", uuid::Uuid::new_v4().simple());
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(server).await?;
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await?;
    let mut url = url::Url::parse(server)?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}
