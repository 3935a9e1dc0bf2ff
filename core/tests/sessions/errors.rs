//! Refusals and malformed answers of the session API are typed errors.

use super::*;

#[tokio::test]
async fn refusals_are_typed_errors() {
    let gw = gateway().await;
    let client = client_for(&gw.server);

    let denied = client
        .start_session(SessionRequest::new(["provider:github", "admin"]))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), "scope_not_allowed");
    assert_eq!(denied.status(), Some(403));
    assert!(
        client.session().is_none(),
        "a refused start leaves no session"
    );

    let bad_user = client
        .start_session(SessionRequest {
            on_behalf_of: Some("expired.user.jwt".into()),
            ..SessionRequest::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_user.code(), "invalid_subject_token");
    assert_eq!(bad_user.status(), Some(401));
    assert!(!format!("{bad_user:?} {bad_user}").contains("expired.user.jwt"));

    let obo = client
        .start_session(SessionRequest {
            on_behalf_of: Some("good.user.jwt".into()),
            ..SessionRequest::default()
        })
        .await
        .expect("OBO session");
    assert_eq!(
        (obo.sub.as_str(), obo.act.as_deref()),
        ("user_1", Some("agt_1"))
    );
    let shown = format!("{obo:?}");
    assert!(!shown.contains("tok_"), "the token is redacted: {shown}");

    let ok = client.authorize("provider:github").await.expect("allowed");
    assert!(ok.allowed);
    let authorizes = requests_to(&gw.server, "POST", "/v1/authorize");
    assert_eq!(
        bearer(&authorizes[0]),
        "tok_3",
        "authorize uses the session token"
    );
    let not_granted = client.authorize("repo:delete").await.unwrap_err();
    assert_eq!(not_granted.code(), "scope_not_allowed");
    let user_lacks = client.authorize("billing:write").await.unwrap_err();
    assert_eq!(user_lacks.code(), "user_not_authorized_for_scope");
    assert_eq!(user_lacks.status(), Some(403));
}

#[tokio::test]
async fn a_malformed_session_answer_is_invalid_response() {
    let server = TestServer::script(vec![Reply::json(
        201,
        json!({"session_token": "t", "token_type": "Bearer", "session_id": "s",
               "expires_in": 60, "expires_at": "x", "scopes": [], "agent_id": "a", "sub": "a"}),
    )])
    .await;
    let client = client_for(&server);
    let error = client
        .start_session(SessionRequest::default())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invalid_response");
    assert!(client.session().is_none());
}
