//! A session's life: issued, used for resolve (its own cache namespace), closed, replaced.

use super::*;

#[tokio::test]
async fn a_session_authenticates_resolves_and_has_its_own_cache_namespace() {
    let gw = gateway().await;
    let client = client_for(&gw.server);
    let cache = TokenCache::new();

    assert_eq!(access_token(&client, &cache).await, format!("at-{API_KEY}"));

    let session = client
        .start_session(SessionRequest {
            ttl: Some(Duration::from_secs(600)),
            ..SessionRequest::new(["provider:github"])
        })
        .await
        .expect("session starts");
    assert_eq!(session.session_id, "sess_1");
    assert_eq!(session.scopes, ["provider:github"]);
    assert_eq!(session.sub, "agt_1");
    assert_eq!(session.act, None);
    let create = &requests_to(&gw.server, "POST", "/v1/sessions")[0];
    assert_eq!(
        bearer(create),
        API_KEY,
        "the API key authenticates the start"
    );
    let sent: Value = serde_json::from_slice(&create.body).expect("JSON body");
    assert_eq!(
        sent,
        json!({"scopes": ["provider:github"], "ttl_seconds": 600, "on_behalf_of": null})
    );

    // The API key's cached token is not served to the session, and vice versa.
    assert_eq!(access_token(&client, &cache).await, "at-tok_1");
    assert_eq!(access_token(&client, &cache).await, "at-tok_1", "cached");
    let peeked = client.peek_cached(&cache, "ws_1", "github").expect("hit");
    assert_eq!(peeked.access_token(), Some("at-tok_1"));
    assert_eq!(requests_to(&gw.server, "GET", "/v1/resolve").len(), 2);

    client.close_session().await.expect("close");
    assert_eq!(
        access_token(&client, &cache).await,
        format!("at-{API_KEY}"),
        "after close the API key's own cached token is used again"
    );
    assert_eq!(requests_to(&gw.server, "GET", "/v1/resolve").len(), 2);
}

#[tokio::test]
async fn close_session_revokes_with_the_session_token() {
    let gw = gateway().await;
    let client = client_for(&gw.server);
    client
        .start_session(SessionRequest::default())
        .await
        .expect("session starts");
    assert!(client.session().is_some());
    client.close_session().await.expect("close");
    let deletes = requests_to(&gw.server, "DELETE", "/v1/sessions/sess_1");
    assert_eq!(deletes.len(), 1);
    assert_eq!(bearer(&deletes[0]), "tok_1");
    assert!(client.session().is_none());
    let error = client.authorize("provider:github").await.unwrap_err();
    assert_eq!(error.code(), "invalid_request", "no session any more");
    client
        .close_session()
        .await
        .expect("closing twice is a no-op");
    assert_eq!(
        requests_to(&gw.server, "DELETE", "/v1/sessions/sess_1").len(),
        1
    );
}

#[tokio::test]
async fn starting_a_new_session_revokes_the_previous_one() {
    let gw = gateway().await;
    let client = client_for(&gw.server);
    let cache = TokenCache::new();
    client
        .start_session(SessionRequest::default())
        .await
        .expect("first");
    assert_eq!(access_token(&client, &cache).await, "at-tok_1");
    client
        .start_session(SessionRequest::default())
        .await
        .expect("second");
    assert_eq!(
        requests_to(&gw.server, "DELETE", "/v1/sessions/sess_1").len(),
        1
    );
    assert_eq!(
        client.session().map(|s| s.session_id).as_deref(),
        Some("sess_2")
    );
    assert_eq!(
        access_token(&client, &cache).await,
        "at-tok_2",
        "a token cached under one session is not served to the next"
    );
}

#[tokio::test]
async fn an_agent_credential_can_authenticate_the_start() {
    let gw = gateway().await;
    let client = client_for(&gw.server);
    client
        .start_session(SessionRequest {
            agent_credential: Some("nxa_agent_SECRET".into()),
            ..SessionRequest::default()
        })
        .await
        .expect("session starts");
    let create = &requests_to(&gw.server, "POST", "/v1/sessions")[0];
    assert_eq!(bearer(create), "nxa_agent_SECRET");
}
