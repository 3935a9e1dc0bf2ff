//! Hot-path benchmarks: a token-cache hit (1 and 2 threads) and each strategy's `apply`.
//! Run: `cargo bench -p nexus-sdk --bench core -- --quick`. Figures go to `BENCHMARKS.md`.

use chrono::{DateTime, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use nexus_sdk::client::parse_resolve_response;
use nexus_sdk::{CachedToken, ClientOptions, NexusClient, RequestParts, TokenCache, apply};
use serde_json::{Value, json};
use std::hint::black_box;
use std::time::{Duration, Instant};

fn token(body: Value) -> CachedToken {
    let response = parse_resolve_response(body.to_string().as_bytes()).expect("valid body");
    CachedToken::from_response(response, Utc::now(), Instant::now())
}

fn warm_cache() -> TokenCache {
    let cache = TokenCache::new();
    // Some neighbours so the maps are not trivially small.
    for ws in 0..50 {
        for provider in ["github", "google", "slack", "notion"] {
            let t = token(
                json!({"access_token": "t", "expires_in": 3600, "strategy": {"type": "oauth2"}}),
            );
            cache.insert(&format!("ws_{ws}"), provider, t);
        }
    }
    cache
}

fn cache_hit(c: &mut Criterion) {
    let cache = warm_cache();
    let mut group = c.benchmark_group("cache_hit");
    // Context for the figures: the monotonic clock read that every hit performs.
    group.bench_function("baseline_instant_now", |b| b.iter(Instant::now));
    group.bench_function("1_thread", |b| {
        b.iter(|| black_box(cache.get(black_box("ws_7"), black_box("github"))).is_some())
    });
    // Two threads doing hits at the same time; the figure is the time per hit on each thread.
    group.bench_function("2_threads", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            std::thread::scope(|s| {
                for _ in 0..2 {
                    let cache = &cache;
                    s.spawn(move || {
                        for _ in 0..iters {
                            black_box(cache.get(black_box("ws_7"), black_box("github")));
                        }
                    });
                }
            });
            start.elapsed()
        })
    });
    // The full async entry point on a hit (no await is reached on the hit path).
    let client = NexusClient::new(ClientOptions::new("http://127.0.0.1:9", "k")).expect("client");
    group.bench_function("resolve_cached_1_thread", |b| {
        b.iter(|| {
            futures::executor::block_on(client.resolve_cached(&cache, "ws_7", "github")).is_ok()
        })
    });
    group.finish();
}

fn strategies(c: &mut Criterion) {
    let now: DateTime<Utc> = Utc::now();
    let headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    let body = br#"{"title":"benchmark issue","body":"some text","labels":["a","b"]}"#;
    let parts = RequestParts {
        method: "POST",
        url: "https://api.example.com/v1/items?page=2&per_page=50",
        headers: &headers,
        body,
    };
    let cases = [
        (
            "oauth2",
            json!({"type": "oauth2"}),
            json!({"access_token": "gho_0123456789abcdef"}),
        ),
        (
            "header",
            json!({"type": "header", "config": {"header_name": "X-API-Key"}}),
            json!({"api_key": "k_0123456789"}),
        ),
        (
            "query_param",
            json!({"type": "query_param"}),
            json!({"api_key": "k_0123456789"}),
        ),
        (
            "basic_auth",
            json!({"type": "basic_auth"}),
            json!({"username": "user", "password": "pass"}),
        ),
        (
            "hmac_payload",
            json!({"type": "hmac_payload"}),
            json!({"secret": "whsec_0123456789"}),
        ),
        (
            "aws_sigv4",
            json!({"type": "aws_sigv4", "config": {"region": "us-east-1", "service": "execute-api"}}),
            json!({"access_key": "AKIDEXAMPLE", "secret_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}),
        ),
    ];
    let mut group = c.benchmark_group("apply");
    for (name, strategy, credentials) in cases {
        let t = token(json!({"strategy": strategy, "credentials": credentials}));
        let strategy = t.strategy().expect("valid strategy").clone();
        group.bench_function(name, |b| {
            b.iter(|| apply(&strategy, t.credentials(), black_box(&parts), now).expect("applies"))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = cache_hit, strategies
}
criterion_main!(benches);
