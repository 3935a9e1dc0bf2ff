//! Prometheus metrics in the text exposition format (version 0.0.4), written by hand: a few
//! counters and one latency histogram do not need a metrics framework.
//!
//! Route labels are axum's route *templates* (`/v1/check-connection/{id}`) or `unmatched`, never
//! raw paths, so a scanner cannot blow up the number of series.

use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// The access log's counters ([`crate::access_log`]): lines written, and lines dropped because
/// the writer was behind (a request never waits for its log line).
pub fn render_access_log(out: &mut String, dropped: u64, written: u64) {
    out.push_str("# HELP nexus_gateway_access_log_dropped_total Access lines dropped because the log writer was behind.\n");
    out.push_str("# TYPE nexus_gateway_access_log_dropped_total counter\n");
    let _ = writeln!(out, "nexus_gateway_access_log_dropped_total {dropped}");
    out.push_str("# HELP nexus_gateway_access_log_written_total Access lines written.\n");
    out.push_str("# TYPE nexus_gateway_access_log_written_total counter\n");
    let _ = writeln!(out, "nexus_gateway_access_log_written_total {written}");
}

/// Upper bounds (seconds) of the latency histogram buckets.
const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// How many independent copies of the per-request statistics are kept (see [`Metrics::shard`]).
const SHARDS: usize = 8;

#[derive(Default)]
pub struct Metrics {
    /// What every request (or every warm resolve) adds to, one copy per shard, summed when
    /// rendered: one shared lock or counter made the runtime's worker threads take turns (and
    /// bounce its cache line) on every request.
    shards: [Shard; SHARDS],
    token_cache_misses: AtomicU64,
    key_cache_misses: AtomicU64,
    broker_errors: [AtomicU64; BrokerErrorKind::ALL.len()],
    proxy_retries: [AtomicU64; ProxyRetry::ALL.len()],
    /// Proxied calls that found the audit queue full and waited for a slot.
    proxy_audit_waits: AtomicU64,
    /// Proxied calls refused (503) because no audit slot freed up within the wait.
    proxy_audit_refusals: AtomicU64,
}

/// Why the proxy sent a call to the upstream again, as the `reason` label of
/// `nexus_gateway_proxy_retries_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyRetry {
    /// The upstream refused the credential (401): one forced refresh, then the call again.
    Unauthorized,
    /// The upstream answered 429/503 with a short `Retry-After` (`proxy.retry_on_throttle`).
    Throttled,
}

impl ProxyRetry {
    const ALL: [Self; 2] = [Self::Unauthorized, Self::Throttled];

    fn label(self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::Throttled => "throttled",
        }
    }
}

/// One thread's copy, on cache lines of its own (the neighbouring shards are other threads').
#[derive(Default)]
#[repr(align(128))]
struct Shard {
    routes: Mutex<Routes>,
    token_cache_hits: AtomicU64,
    key_cache_hits: AtomicU64,
    /// Resolves answered by [`crate::warm_resolve`] (the rest went through the handler).
    warm_resolves: AtomicU64,
}

#[derive(Default)]
struct Routes {
    /// `/v1/resolve`'s, the hottest route, found without hashing its name.
    resolve: RouteStats,
    others: HashMap<String, RouteStats>,
}

#[derive(Default, Clone)]
struct RouteStats {
    by_status: BTreeMap<u16, u64>,
    /// Counts per bucket of [`LATENCY_BUCKETS`] (not cumulative; summed when rendered).
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum_seconds: f64,
}

/// Why a broker call failed, as the `kind` label of `nexus_gateway_broker_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerErrorKind {
    Unreachable,
    BadResponse,
    ServerError,
    InternalAuth,
}

impl BrokerErrorKind {
    const ALL: [Self; 4] = [
        Self::Unreachable,
        Self::BadResponse,
        Self::ServerError,
        Self::InternalAuth,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::Unreachable => "unreachable",
            Self::BadResponse => "bad_response",
            Self::ServerError => "server_error",
            Self::InternalAuth => "internal_auth",
        }
    }
}

impl RouteStats {
    fn add(&mut self, other: &RouteStats) {
        for (status, count) in &other.by_status {
            *self.by_status.entry(*status).or_default() += count;
        }
        for (mine, theirs) in self.buckets.iter_mut().zip(other.buckets) {
            *mine += theirs;
        }
        self.count += other.count;
        self.sum_seconds += other.sum_seconds;
    }
}

impl Metrics {
    /// This thread's shard: threads are dealt shards in turn when they first record, so the
    /// runtime's few worker threads each get their own.
    fn shard(&self) -> &Shard {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
        }
        &self.shards[SHARD.with(|i| *i)]
    }

    /// A counter of every shard, summed.
    fn sum(&self, counter: impl Fn(&Shard) -> &AtomicU64) -> u64 {
        self.shards
            .iter()
            .map(|shard| counter(shard).load(Ordering::Relaxed))
            .sum()
    }

    pub fn observe_request(&self, route: &str, status: u16, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let mut routes = self.shard().routes.lock();
        let routes = &mut *routes;
        let stats = if route == crate::routes::paths::RESOLVE {
            &mut routes.resolve
        } else {
            // Look up by &str first so a known route does not allocate the key.
            match routes.others.get_mut(route) {
                Some(stats) => stats,
                None => routes.others.entry(route.to_owned()).or_default(),
            }
        };
        *stats.by_status.entry(status).or_default() += 1;
        if let Some(i) = LATENCY_BUCKETS.iter().position(|&bound| seconds <= bound) {
            stats.buckets[i] += 1;
        }
        stats.count += 1;
        stats.sum_seconds += seconds;
    }

    pub fn token_cache(&self, hit: bool) {
        let counter = if hit {
            &self.shard().token_cache_hits
        } else {
            &self.token_cache_misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn warm_resolve(&self) {
        self.shard().warm_resolves.fetch_add(1, Ordering::Relaxed);
    }

    pub fn key_cache(&self, hit: bool) {
        let counter = if hit {
            &self.shard().key_cache_hits
        } else {
            &self.key_cache_misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn broker_error(&self, kind: BrokerErrorKind) {
        let index = BrokerErrorKind::ALL
            .iter()
            .position(|&k| k == kind)
            .unwrap_or(0);
        self.broker_errors[index].fetch_add(1, Ordering::Relaxed);
    }

    pub fn proxy_retry(&self, reason: ProxyRetry) {
        let index = ProxyRetry::ALL
            .iter()
            .position(|&r| r == reason)
            .unwrap_or(0);
        self.proxy_retries[index].fetch_add(1, Ordering::Relaxed);
    }

    /// A proxied call found the audit queue full: it waited, and got a slot or (`refused`) not.
    pub fn proxy_audit_full(&self, refused: bool) {
        self.proxy_audit_waits.fetch_add(1, Ordering::Relaxed);
        if refused {
            self.proxy_audit_refusals.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The whole registry in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        self.render_requests(&mut out);
        render_counter_pair(
            &mut out,
            "nexus_gateway_token_cache",
            "Access-token cache lookups",
            self.sum(|shard| &shard.token_cache_hits),
            self.token_cache_misses.load(Ordering::Relaxed),
        );
        render_counter_pair(
            &mut out,
            "nexus_gateway_key_cache",
            "API-key verification cache lookups",
            self.sum(|shard| &shard.key_cache_hits),
            self.key_cache_misses.load(Ordering::Relaxed),
        );
        out.push_str("# HELP nexus_gateway_broker_errors_total Failed calls to the broker.\n");
        out.push_str("# TYPE nexus_gateway_broker_errors_total counter\n");
        for (kind, counter) in BrokerErrorKind::ALL.iter().zip(&self.broker_errors) {
            let _ = writeln!(
                out,
                "nexus_gateway_broker_errors_total{{kind=\"{}\"}} {}",
                kind.label(),
                counter.load(Ordering::Relaxed)
            );
        }
        out.push_str(
            "# HELP nexus_gateway_proxy_retries_total Proxied calls sent to the upstream again.\n",
        );
        out.push_str("# TYPE nexus_gateway_proxy_retries_total counter\n");
        for (reason, counter) in ProxyRetry::ALL.iter().zip(&self.proxy_retries) {
            let _ = writeln!(
                out,
                "nexus_gateway_proxy_retries_total{{reason=\"{}\"}} {}",
                reason.label(),
                counter.load(Ordering::Relaxed)
            );
        }
        for (name, help, count) in [
            (
                "nexus_gateway_resolve_warm_path_total",
                "Resolves answered from both caches in the middleware, without the handler.",
                self.sum(|shard| &shard.warm_resolves),
            ),
            (
                "nexus_gateway_proxy_audit_queue_full_total",
                "Proxied calls that found the audit queue full and waited for a slot.",
                self.proxy_audit_waits.load(Ordering::Relaxed),
            ),
            (
                "nexus_gateway_proxy_audit_refused_total",
                "Proxied calls refused (503) because the audit queue stayed full.",
                self.proxy_audit_refusals.load(Ordering::Relaxed),
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {count}");
        }
        out
    }

    fn render_requests(&self, out: &mut String) {
        // The shards summed (a request recorded while this runs is in the next scrape).
        let mut routes: BTreeMap<String, RouteStats> = BTreeMap::new();
        for shard in &self.shards {
            let shard = shard.routes.lock();
            let resolve = (shard.resolve.count > 0).then_some(&shard.resolve);
            let resolve = resolve.map(|stats| (crate::routes::paths::RESOLVE, stats));
            let others = shard
                .others
                .iter()
                .map(|(name, stats)| (name.as_str(), stats));
            for (name, stats) in resolve.into_iter().chain(others) {
                match routes.get_mut(name) {
                    Some(sum) => sum.add(stats),
                    None => {
                        routes.insert(name.to_owned(), stats.clone());
                    }
                }
            }
        }
        let names: Vec<&String> = routes.keys().collect();

        out.push_str("# HELP nexus_gateway_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE nexus_gateway_requests_total counter\n");
        for name in &names {
            let route = escape_label(name);
            for (status, count) in &routes[*name].by_status {
                let _ = writeln!(
                    out,
                    "nexus_gateway_requests_total{{route=\"{route}\",status=\"{status}\"}} {count}"
                );
            }
        }

        out.push_str("# HELP nexus_gateway_request_duration_seconds Request latency by route.\n");
        out.push_str("# TYPE nexus_gateway_request_duration_seconds histogram\n");
        for name in &names {
            let route = escape_label(name);
            let stats = &routes[*name];
            let mut cumulative = 0;
            for (bound, count) in LATENCY_BUCKETS.iter().zip(stats.buckets) {
                cumulative += count;
                let _ = writeln!(
                    out,
                    "nexus_gateway_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "nexus_gateway_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                stats.count
            );
            let _ = writeln!(
                out,
                "nexus_gateway_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                stats.sum_seconds
            );
            let _ = writeln!(
                out,
                "nexus_gateway_request_duration_seconds_count{{route=\"{route}\"}} {}",
                stats.count
            );
        }
    }
}

fn render_counter_pair(out: &mut String, name: &str, help: &str, hits: u64, misses: u64) {
    for (suffix, count) in [("hits", hits), ("misses", misses)] {
        let _ = writeln!(out, "# HELP {name}_{suffix}_total {help} ({suffix}).");
        let _ = writeln!(out, "# TYPE {name}_{suffix}_total counter");
        let _ = writeln!(out, "{name}_{suffix}_total {count}");
    }
}

/// Label values escape `\`, `"` and newlines (exposition format rules).
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_cumulative_buckets() {
        let metrics = Metrics::default();
        metrics.observe_request("/v1/resolve", 200, Duration::from_micros(300));
        metrics.observe_request("/v1/resolve", 200, Duration::from_millis(20));
        metrics.observe_request("/v1/resolve", 401, Duration::from_millis(2));
        metrics.token_cache(true);
        metrics.broker_error(BrokerErrorKind::Unreachable);
        metrics.proxy_retry(ProxyRetry::Throttled);
        metrics.proxy_retry(ProxyRetry::Throttled);
        metrics.proxy_audit_full(true);
        let text = metrics.render();
        assert!(
            text.contains("nexus_gateway_requests_total{route=\"/v1/resolve\",status=\"200\"} 2\n")
        );
        assert!(
            text.contains("nexus_gateway_requests_total{route=\"/v1/resolve\",status=\"401\"} 1\n")
        );
        assert!(text.contains("_bucket{route=\"/v1/resolve\",le=\"0.0005\"} 1\n"));
        assert!(text.contains("_bucket{route=\"/v1/resolve\",le=\"0.0025\"} 2\n"));
        assert!(text.contains("_bucket{route=\"/v1/resolve\",le=\"+Inf\"} 3\n"));
        assert!(text.contains("nexus_gateway_token_cache_hits_total 1\n"));
        assert!(text.contains("nexus_gateway_broker_errors_total{kind=\"unreachable\"} 1\n"));
        assert!(text.contains("nexus_gateway_proxy_retries_total{reason=\"throttled\"} 2\n"));
        assert!(text.contains("nexus_gateway_proxy_retries_total{reason=\"unauthorized\"} 0\n"));
        assert!(text.contains("nexus_gateway_proxy_audit_refused_total 1\n"));
    }

    #[test]
    fn sums_what_every_thread_recorded() {
        let metrics = Metrics::default();
        // More threads than shards, so some share one and every shard is summed.
        std::thread::scope(|scope| {
            for _ in 0..SHARDS + 3 {
                scope.spawn(|| {
                    for _ in 0..100 {
                        metrics.observe_request("/v1/resolve", 200, Duration::from_micros(300));
                    }
                    metrics.observe_request("/healthz", 503, Duration::from_secs(2));
                    metrics.key_cache(true);
                    metrics.token_cache(true);
                    metrics.warm_resolve();
                });
            }
        });
        let text = metrics.render();
        let threads = SHARDS + 3;
        assert!(text.contains(&format!(
            "nexus_gateway_requests_total{{route=\"/v1/resolve\",status=\"200\"}} {}\n",
            threads * 100
        )));
        assert!(text.contains(&format!(
            "_bucket{{route=\"/healthz\",le=\"5\"}} {threads}\n"
        )));
        assert!(text.contains(&format!(
            "_bucket{{route=\"/v1/resolve\",le=\"0.0005\"}} {}\n",
            threads * 100
        )));
        assert!(text.contains(&format!(
            "nexus_gateway_request_duration_seconds_count{{route=\"/v1/resolve\"}} {}\n",
            threads * 100
        )));
        for counter in [
            "nexus_gateway_key_cache_hits_total",
            "nexus_gateway_token_cache_hits_total",
            "nexus_gateway_resolve_warm_path_total",
        ] {
            assert!(
                text.contains(&format!("\n{counter} {threads}\n")),
                "{counter}"
            );
        }
    }

    #[test]
    fn escapes_label_values() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
