//! Renewal at 80 % of the lifetime, a refused renewal, and one renewal for concurrent calls.

use super::*;

#[tokio::test]
async fn the_session_is_renewed_at_eighty_percent_of_its_lifetime() {
    let mut gw = gateway().await;
    gw.expires_in.store(1, Ordering::SeqCst);
    let client = client_for(&gw.server);
    let cache = TokenCache::new();
    let started = Instant::now();
    client
        .start_session(SessionRequest::default())
        .await
        .expect("session");
    let (first, _) = gw.issued.recv().await.expect("issue request");
    assert_eq!(first, 1);
    assert_eq!(access_token(&client, &cache).await, "at-tok_1");

    let (second, at) = tokio::time::timeout(Duration::from_secs(30), gw.issued.recv())
        .await
        .expect("a renewal request arrives")
        .expect("channel open");
    assert_eq!(second, 2);
    assert!(
        at.duration_since(started) >= Duration::from_millis(800),
        "renewed before 80 % of 1 s: {:?}",
        at.duration_since(started)
    );
    wait_until(
        "the renewed token is in use",
        Duration::from_secs(30),
        || client.session().is_some_and(|s| s.session_id == "sess_2"),
    )
    .await;
    // Same session lineage: the cached credential stays usable; a fresh resolve uses tok_2.
    let fresh = client
        .resolve("ws_1", "github", Default::default())
        .await
        .expect("resolve");
    assert_eq!(fresh.access_token(), Some("at-tok_2"));
    let renewal = &requests_to(&gw.server, "POST", "/v1/sessions")[1];
    assert_eq!(
        bearer(renewal),
        API_KEY,
        "renewal authenticates like the start"
    );
}

#[tokio::test]
async fn a_refused_renewal_surfaces_on_the_next_call_and_stays() {
    let mut gw = gateway().await;
    gw.expires_in.store(1, Ordering::SeqCst);
    let client = client_for(&gw.server);
    client
        .start_session(SessionRequest::default())
        .await
        .expect("session");
    gw.issued.recv().await.expect("issue request");
    gw.refuse.store(true, Ordering::SeqCst);
    tokio::time::timeout(Duration::from_secs(30), gw.issued.recv())
        .await
        .expect("a renewal request arrives")
        .expect("channel open");
    let deadline = Instant::now() + Duration::from_secs(30);
    let error = loop {
        match client.resolve("ws_1", "github", Default::default()).await {
            Err(e) => break e,
            Ok(_) => assert!(Instant::now() < deadline, "the refusal never surfaced"),
        }
        tokio::task::yield_now().await;
    };
    assert_eq!(error.code(), "unauthorized");
    assert_eq!(error.status(), Some(401));
    let again = client.authorize("provider:github").await.unwrap_err();
    assert_eq!(
        again.code(),
        "unauthorized",
        "kept until the session is closed"
    );
    let renewals = requests_to(&gw.server, "POST", "/v1/sessions").len();
    assert_eq!(renewals, 2, "a refused renewal is not retried");
    client.close_session().await.expect("close");
    let back = client
        .resolve("ws_1", "github", Default::default())
        .await
        .expect("the API key works again");
    assert_eq!(back.access_token(), Some(format!("at-{API_KEY}").as_str()));
}

#[tokio::test]
async fn calls_during_a_renewal_do_not_start_another() {
    let mut gw = gateway().await;
    gw.expires_in.store(1, Ordering::SeqCst);
    let client = client_for(&gw.server);
    client
        .start_session(SessionRequest::default())
        .await
        .expect("session");
    gw.issued.recv().await.expect("issue");
    gw.expires_in.store(900, Ordering::SeqCst);
    tokio::time::timeout(Duration::from_secs(30), gw.issued.recv())
        .await
        .expect("the background renewal arrives")
        .expect("channel open");
    // Whether these run before, during or after the renewal, none starts a second one.
    let calls = (0..20).map(|_| {
        let client = client.clone();
        tokio::spawn(async move { client.resolve("ws_1", "github", Default::default()).await })
    });
    for call in futures::future::join_all(calls).await {
        call.expect("task").expect("resolve");
    }
    assert_eq!(requests_to(&gw.server, "POST", "/v1/sessions").len(), 2);
}
