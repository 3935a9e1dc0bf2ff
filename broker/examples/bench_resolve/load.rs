//! The two load shapes of `bench_resolve`: a closed loop (`CONCURRENCY` tasks, each sending its
//! next request when the last is answered) and an open loop (requests started at a fixed rate
//! whatever the answers take).

use std::future::Future;
use std::time::{Duration, Instant};

type BoxError = Box<dyn std::error::Error>;

pub struct Load {
    /// Sorted.
    pub latencies: Vec<Duration>,
    pub failures: usize,
    pub elapsed: Duration,
    /// The open loop's arrival rate (per second).
    pub rate: Option<f64>,
}

impl Load {
    pub fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    pub fn pct(&self, p: f64) -> Duration {
        let n = self.latencies.len();
        self.latencies[((n as f64 * p) as usize).min(n - 1)]
    }

    fn new(results: Vec<(bool, Duration)>, elapsed: Duration, rate: Option<f64>) -> Self {
        let failures = results.iter().filter(|(ok, _)| !ok).count();
        let mut latencies: Vec<Duration> = results.into_iter().map(|(_, d)| d).collect();
        latencies.sort();
        Self {
            latencies,
            failures,
            elapsed,
            rate,
        }
    }
}

pub async fn closed_loop<F, Fut>(
    resolve: F,
    requests: usize,
    concurrency: usize,
) -> Result<Load, BoxError>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = bool> + Send,
{
    let started = Instant::now();
    let per_task = requests / concurrency;
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let resolve = resolve.clone();
            tokio::spawn(async move {
                let mut out = Vec::with_capacity(per_task);
                for _ in 0..per_task {
                    let at = Instant::now();
                    let ok = resolve().await;
                    out.push((ok, at.elapsed()));
                }
                out
            })
        })
        .collect();
    let mut results = Vec::with_capacity(requests);
    for t in tasks {
        results.extend(t.await?);
    }
    Ok(Load::new(results, started.elapsed(), None))
}

/// Request i starts at `start + i / rate`; its latency runs from that instant, so a request
/// that could not even start on time (the process was busy) counts its wait too (no
/// coordinated omission).
pub async fn open_loop<F, Fut>(resolve: F, requests: usize, rate: f64) -> Result<Load, BoxError>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    if !rate.is_finite() || rate <= 0.0 {
        return Err("NEXUS_BENCH_RATE must be a positive rate per second".into());
    }
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(requests);
    for i in 0..requests {
        let due = started + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let resolve = resolve.clone();
        tasks.push(tokio::spawn(async move {
            let ok = resolve().await;
            (ok, due.elapsed())
        }));
    }
    let mut results = Vec::with_capacity(requests);
    for t in tasks {
        results.push(t.await?);
    }
    Ok(Load::new(results, started.elapsed(), Some(rate)))
}

/// CPU time in µs: of this process (load client and broker), and of the PostgreSQL server whose
/// postmaster is `pg_pid` (its live backends, and the exited ones it has reaped). Sampled
/// around the timed load only, so start-up, migrations and warm-up are left out.
pub struct Cpu {
    process: u64,
    pg: Option<u64>,
}

impl Cpu {
    pub fn now(pg_pid: Option<&str>) -> Self {
        Self {
            process: proc_ticks("self", true).unwrap_or(0),
            pg: pg_pid.and_then(pg_ticks),
        }
    }

    /// `(process, pg)` µs per request between `before` and `self`.
    pub fn per_request(&self, before: &Cpu, requests: usize) -> (f64, Option<f64>) {
        let us = |ticks: u64| ticks as f64 * TICK_US / requests.max(1) as f64;
        let pg = match (self.pg, before.pg) {
            (Some(a), Some(b)) => Some(us(a.saturating_sub(b))),
            _ => None,
        };
        (us(self.process.saturating_sub(before.process)), pg)
    }
}

/// /proc reports CPU in USER_HZ ticks, 100 per second on Linux.
const TICK_US: f64 = 10_000.0;

/// utime + stime (+ cutime + cstime with `children`) of /proc/<pid>/stat.
fn proc_ticks(pid: &str, children: bool) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command (which may hold spaces) start at field 3 (state).
    let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split(' ').collect();
    let take = if children { 4 } else { 2 };
    fields
        .get(11..11 + take)?
        .iter()
        .map(|f| f.parse::<u64>().ok())
        .sum()
}

fn pg_ticks(postmaster: &str) -> Option<u64> {
    let mut total = proc_ticks(postmaster, true)?;
    let tasks = std::fs::read_dir(format!("/proc/{postmaster}/task")).ok()?;
    for task in tasks.flatten() {
        let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        // A backend that exits between the listing and the read counts as 0.
        total += children
            .split_whitespace()
            .filter_map(|c| proc_ticks(c, false))
            .sum::<u64>();
    }
    Some(total)
}
