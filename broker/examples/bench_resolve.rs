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
//! `NEXUS_DATABASE_MAX_CONNECTIONS` sets the broker's pool size,
//! `NEXUS_DATABASE_LOOKUP_SLOTS` its lookup gate and `TOKIO_WORKER_THREADS` the runtime's
//! workers (load client and broker share them), for sizing experiments.
//!
//! `bench_resolve floor [REQUESTS] [CONCURRENCY]` (PostgreSQL only) sends the same load to the
//! floor of a durable cold resolve instead of the broker: the broker's lookup statement and a
//! group-committed audit insert behind a bare route, nothing else (`bench_resolve/floor.rs`).
//! `NEXUS_BENCH_RATE=R` replaces the closed loop by an open one: `REQUESTS` sent at R per second
//! whatever the answers take, latency counted from each request's scheduled start (what a
//! deployment below saturation sees). `NEXUS_BENCH_CHECK=1` makes the run a correctness check:
//! every answer must carry a token the provider holds active, the workspace's audit chain must
//! verify over at least every resolve, else the exit status is non-zero.
//!
//! Seeded mode (`bench_resolve/seeded.rs`): against databases of 1k and 1M connections, side
//! by side, on PostgreSQL (`NEXUS_BENCH_DATABASE_URL` required):
//!
//! ```sh
//! cargo run -p nexus-broker --example bench_resolve -- seeded [REQUESTS] [CONCURRENCY] [SIZES]
//! ```

#[path = "bench_resolve/floor.rs"]
mod floor;
#[path = "bench_resolve/load.rs"]
mod load;
#[path = "bench_resolve/seeded.rs"]
mod seeded;

use nexus_broker::crypto::{Keyring, MasterKey};
use nexus_broker::{Broker, BrokerConfig};
use nexus_testkit::{OAuthServer, OAuthServerOptions};
use serde_json::json;
use std::sync::Arc;

/// What the load is sent to: the broker, or the floor route beside it (`floor.rs`).
enum Mode {
    Broker,
    Floor,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("seeded") {
        args.next();
        return seeded::run(args).await;
    }
    let mode = if args.peek().map(String::as_str) == Some("floor") {
        args.next();
        Mode::Floor
    } else {
        Mode::Broker
    };
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
    if matches!(mode, Mode::Floor) && label != "postgres" {
        return Err("the floor runs on PostgreSQL: set NEXUS_BENCH_DATABASE_URL".into());
    }
    let broker_database_url = database_url.clone();
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
        database_lookup_slots: std::env::var("NEXUS_DATABASE_LOOKUP_SLOTS")
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
    let send = {
        let (http, body) = (http.clone(), body.clone());
        move |url: String| {
            let (http, body) = (http.clone(), body.clone());
            async move {
                let resp = http
                    .post(format!("{url}/internal/v1/resolve"))
                    .bearer_auth("bench-internal")
                    .json(&body)
                    .send()
                    .await;
                match resp {
                    Ok(r) if r.status().is_success() => r.bytes().await.ok(),
                    Ok(r) => {
                        let _ = r.bytes().await;
                        None
                    }
                    Err(_) => None,
                }
            }
        }
    };
    // Warm up (the first resolve refreshes); the last answer is what the floor answers.
    let mut answer = None;
    for _ in 0..50 {
        answer = send(url.clone()).await.or(answer);
    }
    let answer = answer.ok_or("the warm-up resolves failed")?;
    let target = match mode {
        Mode::Broker => url.clone(),
        Mode::Floor => floor::start(&broker_database_url, answer.clone()).await?,
    };
    // `NEXUS_BENCH_CHECK=1`: every answer must carry a token the provider holds active (and the
    // chain must verify afterwards); the answers are parsed only then.
    let check = std::env::var("NEXUS_BENCH_CHECK").is_ok_and(|v| v == "1");
    let oauth = Arc::new(oauth);
    let resolve = {
        let (send, oauth) = (send.clone(), oauth.clone());
        move || {
            let (send, oauth, target) = (send.clone(), oauth.clone(), target.clone());
            async move {
                match send(target).await {
                    Some(bytes) if check => token_is_active(&bytes, &oauth),
                    Some(_) => true,
                    None => false,
                }
            }
        }
    };

    // `NEXUS_BENCH_PG_PID`: the postmaster's pid, for PostgreSQL's CPU in the timed window.
    let pg_pid = std::env::var("NEXUS_BENCH_PG_PID")
        .ok()
        .filter(|p| !p.is_empty());
    let cpu_before = load::Cpu::now(pg_pid.as_deref());
    let load = match std::env::var("NEXUS_BENCH_RATE")
        .ok()
        .filter(|r| !r.is_empty())
    {
        Some(rate) => load::open_loop(resolve, requests, rate.parse()?).await?,
        None => load::closed_loop(resolve, requests, concurrency).await?,
    };
    let (cpu_process, cpu_pg) =
        load::Cpu::now(pg_pid.as_deref()).per_request(&cpu_before, load.latencies.len());
    let cpu_pg = cpu_pg.map_or("n/a".to_owned(), |us| format!("{us:.0} us"));
    let shape = match load.rate {
        Some(rate) => format!("open loop at {rate:.0}/s"),
        None => format!("concurrency {concurrency}"),
    };
    let label = match mode {
        Mode::Broker => label.to_owned(),
        Mode::Floor => format!("{label}-floor"),
    };
    println!(
        "{label}: {} resolves, {shape}, {} failed, {:.0} req/s, p50 {:?}, p90 {:?}, p99 {:?}, refreshes at the provider: {}, window cpu/resolve: process {cpu_process:.0} us, pg {cpu_pg}",
        load.latencies.len(),
        load.failures,
        load.throughput(),
        load.pct(0.50),
        load.pct(0.90),
        load.pct(0.99),
        oauth.stats().refresh_accepted
    );
    if check {
        let verdict = broker.vault().audit().verify_chain(Some("w1")).await?;
        let expected = (load.latencies.len() + 50) as u64;
        println!(
            "check: chain of w1 ok={} over {} records (at least {expected} expected), {} answers without an active token",
            verdict.ok, verdict.checked, load.failures
        );
        // A check leaves no database behind (CI runs it on a shared server).
        if let Ok(server) = std::env::var("NEXUS_BENCH_DATABASE_URL") {
            drop(broker);
            drop_pg_database(&server, &broker_database_url).await?;
        }
        if !verdict.ok || verdict.checked < expected || load.failures > 0 {
            return Err("cold-path check failed".into());
        }
    }
    Ok(())
}

async fn drop_pg_database(
    server: &str,
    database_url: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    use sqlx::Executor;
    let name = url::Url::parse(database_url)?
        .path()
        .trim_start_matches('/')
        .to_owned();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(server).await?;
    conn.execute(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .await?;
    Ok(())
}

/// The answer is a resolve response whose access token the provider knows as active.
fn token_is_active(bytes: &[u8], oauth: &OAuthServer) -> bool {
    let Ok(answer) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return false;
    };
    answer["access_token"]
        .as_str()
        .is_some_and(|token| oauth.introspect(token).active)
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
