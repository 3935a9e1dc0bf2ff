//! `nexus_sdk::hold`: a binding's copy of a cache hit serves exactly while the core would serve
//! the same token, and stops on every cache write and principal change (stand-in gateway on
//! 127.0.0.1, real HTTP).

mod support;

use nexus_sdk::hold::{HoldTag, epoch_word, principal_word};
use nexus_sdk::{NexusClient, SessionRequest, TokenCache};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::{Recorded, Reply, TestServer, client_for};

/// Sessions and resolves; every resolve answers a new access token (`at-<n>`).
async fn gateway() -> TestServer {
    let resolves = Arc::new(AtomicUsize::new(0));
    let sessions = Arc::new(AtomicUsize::new(0));
    TestServer::start(Arc::new(move |_, request: Recorded| {
        let reply = match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/v1/resolve") => {
                let n = resolves.fetch_add(1, Ordering::SeqCst) + 1;
                Reply::token(&format!("at-{n}"), 3600)
            }
            ("POST", "/v1/sessions") => {
                let n = sessions.fetch_add(1, Ordering::SeqCst) + 1;
                Reply::json(
                    201,
                    serde_json::json!({
                        "session_token": format!("tok_{n}"), "token_type": "session",
                        "session_id": format!("sess_{n}"), "expires_in": 900,
                        "expires_at": "2026-11-24T12:15:00Z", "scopes": [],
                        "agent_id": "agt_1", "sub": "agt_1",
                    }),
                )
            }
            ("DELETE", _) => Reply::text(204, "text/plain", ""),
            _ => Reply::error(404, "not_found", "no route"),
        };
        Box::pin(async move { reply })
    }))
    .await
}

async fn warm(client: &NexusClient, cache: &TokenCache) -> nexus_sdk::hold::HeldHit {
    client
        .resolve_cached(cache, "ws", "p")
        .await
        .expect("resolve");
    client.peek_to_hold(cache, "ws", "p").expect("a fresh hit")
}

#[tokio::test]
async fn a_held_hit_stops_serving_on_every_cache_write() {
    let server = gateway().await;
    let client = client_for(&server);
    let cache = TokenCache::new();
    assert!(
        client.peek_to_hold(&cache, "ws", "p").is_none(),
        "nothing cached"
    );

    let held = warm(&client, &cache).await;
    let now = Instant::now();
    assert!(held.serves(&client, &cache, now));
    assert_eq!(held.token.access_token(), Some("at-1"));

    // invalidate (the caller's revocation), even of another key: any write ends every copy.
    cache.invalidate("ws", "other");
    assert!(!held.serves(&client, &cache, now), "after invalidate");

    let held = client
        .peek_to_hold(&cache, "ws", "p")
        .expect("still cached");
    client.invalidate(&cache, "ws", "p");
    assert!(
        !held.serves(&client, &cache, now),
        "after invalidate of its key"
    );

    // A store (a new fetch).
    let held = warm(&client, &cache).await;
    assert_eq!(held.token.access_token(), Some("at-2"));
    client
        .resolve_cached(&cache, "ws", "q")
        .await
        .expect("resolve");
    assert!(!held.serves(&client, &cache, now), "after a store");

    // The 401 rule: the rejected token is dropped and a forced refresh stored.
    let held = client.peek_to_hold(&cache, "ws", "p").expect("cached");
    let replaced = client
        .replace_rejected_generation(&cache, "ws", "p", held.token.generation())
        .await
        .expect("refresh");
    assert_ne!(replaced.generation(), held.token.generation());
    assert!(!held.serves(&client, &cache, now), "after the 401 rule");

    // A forced refresh.
    let held = client.peek_to_hold(&cache, "ws", "p").expect("cached");
    client
        .resolve_through(&cache, "ws", "p", true)
        .await
        .expect("forced");
    assert!(!held.serves(&client, &cache, now), "after a forced refresh");

    // clear.
    let held = client.peek_to_hold(&cache, "ws", "p").expect("cached");
    cache.clear();
    assert!(!held.serves(&client, &cache, now), "after clear");

    // Counters the shared-memory readers see are the same values.
    let tag = HoldTag::now(&client, &cache);
    assert_eq!(epoch_word(&cache).load(Ordering::Acquire), tag.epoch);
    assert_eq!(
        principal_word(&client).load(Ordering::Acquire),
        tag.principal
    );
}

#[tokio::test]
async fn a_held_hit_ends_exactly_at_the_core_deadline() {
    let server = gateway().await;
    let client = client_for(&server);
    let buffer = Duration::from_secs(30);
    let cache = TokenCache::with_safety_buffer(buffer);
    let before = Instant::now();
    let held = warm(&client, &cache).await;
    let last = held.deadline - Duration::from_nanos(1);
    assert!(held.serves(&client, &cache, last));
    assert!(
        held.token.is_fresh(last, buffer),
        "the core serves it then too"
    );
    assert!(!held.serves(&client, &cache, held.deadline));
    assert!(
        !held.token.is_fresh(held.deadline, buffer),
        "the core stops at the same instant"
    );
    // A clock read before the call plus `usable_for` is never later than the deadline.
    assert!(before + held.usable_for <= held.deadline);
    assert!(held.usable_for > Duration::from_secs(3500));
}

#[tokio::test]
async fn a_held_hit_stops_serving_when_the_principal_changes() {
    let server = gateway().await;
    let client = client_for(&server);
    let cache = TokenCache::new();
    let api_key_hit = warm(&client, &cache).await;
    let now = Instant::now();

    client
        .start_session(SessionRequest::default())
        .await
        .expect("session");
    assert!(
        !api_key_hit.serves(&client, &cache, now),
        "the API key's copy is not served under a session"
    );
    let session_hit = warm(&client, &cache).await;
    assert_ne!(
        session_hit.token.generation(),
        api_key_hit.token.generation()
    );
    assert!(session_hit.serves(&client, &cache, now));

    client.close_session().await.expect("close");
    assert!(
        !session_hit.serves(&client, &cache, now),
        "the session's copy is not served after close"
    );
    let again = client
        .peek_to_hold(&cache, "ws", "p")
        .expect("API key's token");
    assert_eq!(again.token.generation(), api_key_hit.token.generation());
}

/// The hand-over for a binding on the coarse clock: `coarse_until` is the deadline minus the
/// window in the process clock's base, and the rule on a hand-ticked clock ends the copy in time.
#[tokio::test]
async fn a_held_hit_hands_over_its_deadline_in_the_coarse_clock_base() {
    use nexus_sdk::coarse_clock::{CoarseClock, WINDOW};
    let server = gateway().await;
    let client = client_for(&server);
    let cache = TokenCache::with_safety_buffer(Duration::from_secs(30));
    let held = warm(&client, &cache).await;
    let system = CoarseClock::system();
    assert_eq!(held.coarse_until, system.coarse_until(held.deadline));
    assert_eq!(
        held.coarse_until,
        system.millis(held.deadline - WINDOW),
        "the deadline minus the window"
    );
    // A hand-ticked clock with the same origin as the real one: a tick far from the deadline
    // serves, a tick as late as it may be in the last window does not decide.
    let clock = CoarseClock::new(Instant::now, false);
    let until = clock.coarse_until(held.deadline);
    clock.publish(held.deadline - WINDOW * 2);
    assert!(held.serves_coarse(&client, &cache, &clock, until));
    clock.publish(held.deadline - WINDOW + Duration::from_millis(1));
    assert!(
        held.serves_coarse(&client, &cache, &clock, until),
        "in the last window the real clock (now, long before the deadline) decides"
    );
    cache.clear();
    assert!(
        !held.serves_coarse(&client, &cache, &clock, until),
        "a write still ends it"
    );
}
