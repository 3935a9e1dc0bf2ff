//! `TokenCache` single-flight semantics with hand-driven fetches (no network).

mod support;

use nexus_sdk::client::parse_resolve_response;
use nexus_sdk::{CachedToken, NexusError, TokenCache};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::wait_until;
use tokio::sync::oneshot;

fn token(access_token: &str) -> CachedToken {
    let body =
        json!({"access_token": access_token, "expires_in": 3600, "strategy": {"type": "oauth2"}});
    let response = parse_resolve_response(body.to_string().as_bytes()).expect("valid");
    CachedToken::from_response(response, chrono::Utc::now(), Instant::now())
}

fn access(t: &Arc<CachedToken>) -> &str {
    t.access_token().unwrap_or_default()
}

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_cancelled_first_caller_does_not_strand_the_others() {
    let cache = TokenCache::new();
    let (release, released) = oneshot::channel::<()>();
    let leader = tokio::spawn({
        let cache = cache.clone();
        async move {
            cache
                .get_or_fetch("ws", "p", false, || async move {
                    let _ = released.await;
                    Ok(token("from_flight"))
                })
                .await
        }
    });
    wait_until("the leader started the flight", WAIT, || {
        cache.stats().fetches == 1
    })
    .await;
    let follower = tokio::spawn({
        let cache = cache.clone();
        async move {
            cache
                .get_or_fetch("ws", "p", false, || async { Ok(token("never_fetched")) })
                .await
        }
    });
    wait_until("the follower joined", WAIT, || cache.stats().joined == 1).await;
    leader.abort();
    let _ = release.send(());
    let got = follower
        .await
        .expect("no panic")
        .expect("the follower drives the flight");
    assert_eq!(access(&got), "from_flight");
    assert_eq!(cache.stats().fetches, 1);
}

#[tokio::test]
async fn errors_are_not_cached() {
    let cache = TokenCache::new();
    let calls = Arc::new(AtomicUsize::new(0));
    for expected in 1..=2 {
        let calls2 = calls.clone();
        let result = cache
            .get_or_fetch("ws", "p", false, || async move {
                calls2.fetch_add(1, Ordering::SeqCst);
                Err(NexusError::Timeout("gateway slow".into()))
            })
            .await;
        assert_eq!(result.unwrap_err().code(), "timeout");
        assert_eq!(calls.load(Ordering::SeqCst), expected);
    }
}

#[tokio::test]
async fn a_forced_refresh_does_not_join_an_older_flight_and_its_answer_wins() {
    let cache = TokenCache::new();
    let (release_old, old_released) = oneshot::channel::<()>();
    let old = tokio::spawn({
        let cache = cache.clone();
        async move {
            cache
                .get_or_fetch("ws", "p", false, || async move {
                    let _ = old_released.await;
                    Ok(token("old"))
                })
                .await
        }
    });
    wait_until("the normal flight started", WAIT, || {
        cache.stats().fetches == 1
    })
    .await;
    let forced = cache
        .get_or_fetch("ws", "p", true, || async { Ok(token("new")) })
        .await;
    assert_eq!(access(&forced.expect("forced")), "new");
    assert_eq!(
        cache.stats().fetches,
        2,
        "the forced call did not join the normal flight"
    );
    // The older flight finishes last; the newer token must stay cached.
    let _ = release_old.send(());
    assert_eq!(
        access(&old.await.expect("no panic").expect("old flight")),
        "old"
    );
    assert_eq!(
        cache
            .get("ws", "p")
            .map(|t| access(&t).to_owned())
            .as_deref(),
        Some("new")
    );
}

#[tokio::test]
async fn replacing_a_rejected_token_reuses_a_newer_one() {
    let cache = TokenCache::new();
    let first = cache
        .get_or_fetch("ws", "p", false, || async { Ok(token("t1")) })
        .await
        .expect("t1");
    // Someone else already replaced t1 with t2.
    let second = cache
        .get_or_fetch("ws", "p", true, || async { Ok(token("t2")) })
        .await
        .expect("t2");
    assert_eq!(access(&second), "t2");
    let replaced = cache
        .replace_rejected("ws", "p", &first, || async { Ok(token("t3")) })
        .await
        .expect("newer token");
    assert_eq!(
        access(&replaced),
        "t2",
        "no refresh: the rejected token was already replaced"
    );
    assert_eq!(cache.stats().fetches, 2);

    // Rejecting the current token drops it and refreshes.
    let replaced = cache
        .replace_rejected("ws", "p", &second, || async { Ok(token("t3")) })
        .await
        .expect("refreshed");
    assert_eq!(access(&replaced), "t3");
    assert_eq!(cache.stats().fetches, 3);
}

#[tokio::test]
async fn a_rejected_token_is_dropped_even_if_the_refresh_fails() {
    let cache = TokenCache::new();
    let first = cache
        .get_or_fetch("ws", "p", false, || async { Ok(token("t1")) })
        .await
        .expect("t1");
    let error = cache
        .replace_rejected("ws", "p", &first, || async {
            Err(NexusError::Connect("refused".into()))
        })
        .await
        .unwrap_err();
    assert_eq!(error.code(), "connection_error");
    assert!(
        cache.get("ws", "p").is_none(),
        "the rejected token is not served again"
    );
}

/// Each thread keeps its own copies of hit tokens; writes from another thread must still be seen.
#[test]
fn writes_from_another_thread_are_seen_by_a_thread_holding_a_copy() {
    use std::sync::mpsc::channel;
    let cache = TokenCache::new();
    cache.insert("ws", "p", token("t1"));
    let (step_tx, step_rx) = channel::<()>();
    let (seen_tx, seen_rx) = channel::<Option<String>>();
    let reader = std::thread::spawn({
        let cache = cache.clone();
        move || {
            for _ in 0..4 {
                // Twice per step: the second read comes from this thread's copy.
                let first = cache.get("ws", "p").map(|t| access(&t).to_owned());
                let second = cache.get("ws", "p").map(|t| access(&t).to_owned());
                assert_eq!(first, second);
                seen_tx.send(first).expect("main is listening");
                if step_rx.recv().is_err() {
                    return;
                }
            }
        }
    });
    let next = || seen_rx.recv().expect("reader reports");
    assert_eq!(next().as_deref(), Some("t1"));
    cache.invalidate("ws", "p");
    step_tx.send(()).expect("reader alive");
    assert_eq!(
        next(),
        None,
        "an invalidated token is not served from a thread's copy"
    );
    cache.insert("ws", "p", token("t2"));
    step_tx.send(()).expect("reader alive");
    assert_eq!(next().as_deref(), Some("t2"));
    cache.clear();
    step_tx.send(()).expect("reader alive");
    assert_eq!(next(), None, "clear is seen too");
    drop(step_tx);
    reader.join().expect("reader did not panic");
}

#[test]
fn two_caches_do_not_share_thread_copies() {
    let a = TokenCache::new();
    let b = TokenCache::new();
    a.insert("ws", "p", token("from_a"));
    assert_eq!(
        a.get("ws", "p").map(|t| access(&t).to_owned()).as_deref(),
        Some("from_a")
    );
    assert!(b.get("ws", "p").is_none());
}

/// `usable_for` is the freshness rule as a duration (what the JVM binding's copy of a hit lives
/// by): positive exactly while the cache serves the token, and shortened by the safety buffer.
#[test]
fn usable_for_ends_when_the_cache_stops_serving() {
    let buffer = Duration::from_secs(30);
    let cache = TokenCache::with_safety_buffer(buffer);
    let t = token("t"); // expires_in 3600
    let now = Instant::now();
    let left = cache.usable_for(&t, now);
    assert!(
        left > Duration::from_secs(3500) && left <= Duration::from_secs(3570),
        "{left:?}"
    );
    assert!(t.is_fresh(now + left - Duration::from_millis(1), buffer));
    assert!(
        !t.is_fresh(now + left, buffer),
        "the end of usable_for is the end of freshness"
    );
    assert_eq!(cache.usable_for(&t, now + left), Duration::ZERO);
    assert_eq!(
        cache.usable_for(&t, now + Duration::from_secs(4000)),
        Duration::ZERO
    );
    let unbuffered = TokenCache::with_safety_buffer(Duration::ZERO);
    assert_eq!(unbuffered.usable_for(&t, now), left + buffer);
}
