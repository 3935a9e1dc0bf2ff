//! `bench_resolve seeded`: resolve p50/p99 against a small and a large seeded database, side by
//! side in one run (issue 20: at 1M connections within 1.2× of the 1k case).
//!
//! For each size N (default `1000,1000000`): a fresh PostgreSQL database, N OAuth connections
//! across N / 100 workspaces and 10 providers sealed as in production (`nexus_vault::seed`,
//! the same tool as `cargo run -p nexus-vault --example seed`: multi-row inserts, 5,000
//! connections per transaction), `VACUUM (ANALYZE)`, and a broker of its own on it. Then `ROUNDS`
//! rounds; in each, every size gets `REQUESTS` resolves (`POST /internal/v1/resolve`) from
//! `CONCURRENCY` tasks, sizes in alternating order (small→large, then large→small, …) so both
//! see the same machine load. Each request is for a (workspace, provider) pair drawn at random
//! from everything seeded. The same 100 connections per workspace (10 per pair) at every size,
//! so what changes is the size of the tables and the spread of the requests over them.
//! Every token is valid for a year: a resolve finds the connection, opens the token and appends
//! its audit record; nothing refreshes. An answer counts as good only if it is 200 and carries
//! a seeded token of that very workspace and provider.
//!
//! The databases are dropped at the end, also when the run fails after creating them. Exits
//! non-zero if any answer failed or was wrong, so a small run is a correctness check (CI:
//! `scripts/test.d/53-million.sh`).

use super::fresh_pg_database;
use nexus_broker::crypto::{Keyring, MasterKey};
use nexus_broker::{Broker, BrokerConfig};
use nexus_vault::Vault;
use nexus_vault::seed::{SeedPlan, provider_name, seed, workspace_name};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CONNECTIONS_PER_WORKSPACE: usize = 100;
const PROVIDERS: usize = 10;

type BoxError = Box<dyn std::error::Error>;

pub async fn run(mut args: impl Iterator<Item = String>) -> Result<(), BoxError> {
    let requests: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5000);
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(16);
    let sizes: Vec<usize> = args
        .next()
        .unwrap_or_else(|| "1000,1000000".into())
        .split(',')
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()?;
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let server = std::env::var("NEXUS_BENCH_DATABASE_URL")
        .map_err(|_| "seeded mode needs NEXUS_BENCH_DATABASE_URL (a PostgreSQL server)")?;

    let mut databases = Vec::new();
    let result = seed_and_measure(
        &server,
        &sizes,
        requests,
        concurrency,
        rounds,
        &mut databases,
    )
    .await;
    // Dropped whatever happened: a 1M database holds about 1 GB. FORCE ends the brokers'
    // pooled connections, which are still open.
    drop_databases(&server, &databases).await;
    result
}

async fn seed_and_measure(
    server: &str,
    sizes: &[usize],
    requests: usize,
    concurrency: usize,
    rounds: usize,
    databases: &mut Vec<String>,
) -> Result<(), BoxError> {
    let dir = tempfile::tempdir()?;
    let mut targets = Vec::new();
    for &size in sizes {
        let database_url = fresh_pg_database(server).await?;
        databases.push(database_url.clone());
        targets.push(Arc::new(
            Target::start(database_url, dir.path(), size).await?,
        ));
    }

    let mut runs: Vec<Vec<Run>> = sizes.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        let mut order: Vec<usize> = (0..targets.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let load = load_average();
            let run = targets[i].measure(requests, concurrency, round).await;
            eprintln!(
                "round {} size {}: load {load}, {} failed, {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
                round + 1,
                sizes[i],
                run.failed,
                run.rate,
                ms(run.p50),
                ms(run.p99)
            );
            runs[i].push(Run { load, ..run });
        }
    }

    println!(
        "{requests} resolves per run, concurrency {concurrency}, {rounds} rounds (sizes alternating); medians over rounds, every run in brackets"
    );
    println!("| connections | workspaces | seeded in | failed | req/s | p50 | p99 | load avg |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for (t, r) in targets.iter().zip(&runs) {
        println!(
            "| {} | {} | {:.0} s | {} | {:.0} | {:.2} ms ({}) | {:.2} ms ({}) | {} |",
            t.size,
            t.workspaces,
            t.seed_secs,
            r.iter().map(|x| x.failed).sum::<usize>(),
            median(r.iter().map(|x| x.rate)),
            median(r.iter().map(|x| ms(x.p50))),
            list(r.iter().map(|x| ms(x.p50))),
            median(r.iter().map(|x| ms(x.p99))),
            list(r.iter().map(|x| ms(x.p99))),
            r.iter()
                .map(|x| x.load.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    if let ([small, .., large], [rs, .., rl]) = (targets.as_slice(), runs.as_slice()) {
        let p50 = |r: &[Run]| median(r.iter().map(|x| ms(x.p50)));
        let p99 = |r: &[Run]| median(r.iter().map(|x| ms(x.p99)));
        println!(
            "{} vs {} connections: p50 ratio {:.2}, p99 ratio {:.2} (goal: each ≤ 1.2)",
            large.size,
            small.size,
            p50(rl) / p50(rs),
            p99(rl) / p99(rs)
        );
    }
    // A correctness check too (CI runs it small): any wrong or failed answer fails the run.
    let failed: usize = runs.iter().flatten().map(|r| r.failed).sum();
    if failed > 0 {
        return Err(format!("{failed} resolves failed or answered a wrong token").into());
    }
    Ok(())
}

async fn drop_databases(server: &str, databases: &[String]) {
    use sqlx::Executor;
    let Ok(mut conn) = <sqlx::AnyConnection as sqlx::Connection>::connect(server).await else {
        eprintln!("bench_resolve seeded: could not connect to drop {databases:?}");
        return;
    };
    for url in databases {
        let Some(name) = url::Url::parse(url)
            .ok()
            .map(|u| u.path().trim_start_matches('/').to_owned())
        else {
            continue;
        };
        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        if let Err(e) = conn.execute(sqlx::AssertSqlSafe(sql)).await {
            eprintln!("bench_resolve seeded: dropping {name}: {e}");
        }
    }
}

/// One seeded database with its broker listening on loopback.
struct Target {
    size: usize,
    workspaces: usize,
    seed_secs: f64,
    url: String,
    http: reqwest::Client,
    // Keeps the broker (and its background tasks) alive for the whole run.
    _broker: Broker,
}

impl Target {
    async fn start(
        database_url: String,
        dir: &std::path::Path,
        size: usize,
    ) -> Result<Self, BoxError> {
        let key_file = dir.join(format!("keyring-{size}"));
        Keyring::single(MasterKey::generate()).save_file(&key_file)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let config = BrokerConfig {
            database_url,
            master_key_file: Some(key_file),
            admin_token: "bench-admin".into(),
            internal_token: "bench-internal".into(),
            public_url: url.clone(),
            ..Default::default()
        };

        let workspaces = (size / CONNECTIONS_PER_WORKSPACE).max(1);
        let started = Instant::now();
        {
            // The seeding vault is dropped (its pool closed) before the broker starts.
            let vault = Vault::start(config.vault_config()).await?;
            let plan = SeedPlan {
                workspaces,
                connections: size,
                providers: PROVIDERS,
                token_url: "http://127.0.0.1:9/token".into(),
            };
            seed(&vault, &plan).await?;
        }
        let seed_secs = started.elapsed().as_secs_f64();
        let started = Instant::now();
        analyze(&config.database_url).await?;
        eprintln!(
            "bench_resolve seeded: {size} connections in {seed_secs:.1} s, vacuumed in {:.1} s",
            started.elapsed().as_secs_f64()
        );

        let broker = Broker::start(config).await?;
        let router = broker.router();
        tokio::spawn(async move { axum::serve(listener, router).await });
        let target = Self {
            size,
            workspaces,
            seed_secs,
            url,
            http: reqwest::Client::new(),
            _broker: broker,
        };
        // Warm up: the broker's pool and statement caches.
        for i in 0..50 {
            target.resolve(i % workspaces, i % PROVIDERS).await;
        }
        Ok(target)
    }

    /// One resolve: good only if it hands back a token seeded for exactly `(w, p)`.
    async fn resolve(&self, w: usize, p: usize) -> (bool, Duration) {
        let ws = workspace_name(w);
        let body = json!({"principal": {"kind": "api_key", "workspace_id": ws, "key_id": "k"},
            "workspace_id": ws, "provider_name": provider_name(p)});
        let started = Instant::now();
        let resp = self
            .http
            .post(format!("{}/internal/v1/resolve", self.url))
            .bearer_auth("bench-internal")
            .json(&body)
            .send()
            .await;
        let token = match resp {
            Ok(r) if r.status().is_success() => r.json::<serde_json::Value>().await.ok(),
            _ => None,
        };
        let elapsed = started.elapsed();
        // The seed places connection j in workspace j % W and provider (j / W) % P.
        let ok = token
            .as_ref()
            .and_then(|v| v["access_token"].as_str())
            .and_then(|t| t.strip_prefix("seed-access-"))
            .and_then(|j| j.parse::<usize>().ok())
            .is_some_and(|j| j % self.workspaces == w && (j / self.workspaces) % PROVIDERS == p);
        (ok, elapsed)
    }

    /// One run. Each task draws its own sequence, different in every round (a later round
    /// should not find exactly the rows an earlier one pulled into the caches), the same for
    /// every size.
    async fn measure(self: &Arc<Self>, requests: usize, concurrency: usize, round: usize) -> Run {
        let per_task = requests / concurrency;
        let started = Instant::now();
        let tasks: Vec<_> = (0..concurrency)
            .map(|t| {
                let target = Arc::clone(self);
                tokio::spawn(async move {
                    let mut rng = Lcg(0x9e37_79b9_7f4a_7c15 ^ (round * concurrency + t) as u64);
                    let mut out = Vec::with_capacity(per_task);
                    for _ in 0..per_task {
                        let (w, p) = (rng.below(target.workspaces), rng.below(PROVIDERS));
                        out.push(target.resolve(w, p).await);
                    }
                    out
                })
            })
            .collect();
        let mut latencies: Vec<Duration> = Vec::with_capacity(requests);
        let mut failed = 0;
        for t in tasks {
            match t.await {
                Ok(out) => {
                    for (ok, d) in out {
                        failed += usize::from(!ok);
                        latencies.push(d);
                    }
                }
                // A task that panicked: all of its requests count as failed.
                Err(_) => failed += per_task,
            }
        }
        let elapsed = started.elapsed();
        latencies.sort();
        let pct = |p: f64| {
            let i = ((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1));
            latencies.get(i).copied().unwrap_or_default()
        };
        Run {
            failed,
            rate: latencies.len() as f64 / elapsed.as_secs_f64(),
            p50: pct(0.50),
            p99: pct(0.99),
            load: String::new(),
        }
    }
}

struct Run {
    failed: usize,
    rate: f64,
    p50: Duration,
    p99: Duration,
    load: String,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn list(values: impl Iterator<Item = f64>) -> String {
    values
        .map(|v| format!("{v:.2}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The 1-minute load average, printed beside every run: the machine is shared.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// The state autovacuum leaves a database loaded long ago in: fresh statistics, hint bits set
/// and the visibility map current. Without the vacuum, the first read of each freshly loaded
/// page during the measurement dirties it (hint bits) and autovacuum's insert threshold starts a
/// vacuum of the large table mid-run: both are costs of having just loaded it, not of its size.
async fn analyze(database_url: &str) -> Result<(), BoxError> {
    use sqlx::Executor;
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(database_url).await?;
    conn.execute("VACUUM (ANALYZE)").await?;
    Ok(())
}

/// A small deterministic generator (64-bit LCG, high bits): the same draws in every run.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}
