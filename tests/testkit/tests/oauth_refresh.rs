//! Refresh token rotation, reuse detection, scope narrowing, expiry and revocation, over HTTP.

mod common;

use std::time::Duration;

use common::*;
use nexus_testkit::{OAuthServer, OAuthServerOptions};

async fn server() -> OAuthServer {
    OAuthServer::start(OAuthServerOptions::default()).await
}

#[tokio::test]
async fn each_refresh_rotates_and_the_old_token_is_rejected() {
    let oauth = server().await;
    let (first_access, first) = oauth.issue_tokens_directly(["read", "write"]);

    let (status, body) = json_of(refresh(&oauth, &first, None).await).await;
    assert_eq!(status, 200, "{body}");
    let second = str_field(&body, "refresh_token").to_owned();
    let second_access = str_field(&body, "access_token").to_owned();
    assert_ne!(second, first);
    assert_ne!(second_access, first_access);
    assert_eq!(body["scope"], "read write");

    // The rotated-away token is dead: invalid_grant, counted as reuse.
    let (status, body) = json_of(refresh(&oauth, &first, None).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(!oauth.introspect(&first).active);

    // By default reuse does not kill the newest token.
    let (status, _) = json_of(refresh(&oauth, &second, None).await).await;
    assert_eq!(status, 200);

    let stats = oauth.stats();
    assert_eq!(stats.refresh_token_requests, 3);
    assert_eq!(stats.refresh_accepted, 2);
    assert_eq!(stats.refresh_rejected, 1);
    assert_eq!(stats.refresh_reuse_detected, 1);
}

#[tokio::test]
async fn reuse_can_revoke_the_whole_grant() {
    let oauth = OAuthServer::start(OAuthServerOptions {
        reuse_revokes_grant: true,
        ..OAuthServerOptions::default()
    })
    .await;
    let (_, first) = oauth.issue_tokens_directly(["read"]);
    let (_, body) = json_of(refresh(&oauth, &first, None).await).await;
    let second = str_field(&body, "refresh_token").to_owned();
    let access = str_field(&body, "access_token").to_owned();

    assert_eq!(refresh(&oauth, &first, None).await.status(), 400);
    assert!(
        !oauth.introspect(&second).active,
        "the newest refresh token is revoked too"
    );
    assert!(!oauth.introspect(&access).active);
    assert_eq!(refresh(&oauth, &second, None).await.status(), 400);
}

#[tokio::test]
async fn unknown_refresh_token_is_invalid_grant() {
    let oauth = server().await;
    let (status, body) = json_of(refresh(&oauth, "rt_made_up", None).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(oauth.stats().refresh_reuse_detected, 0);
}

#[tokio::test]
async fn scope_on_refresh_narrows_the_access_token_only() {
    let oauth = server().await;
    let (_, rt) = oauth.issue_tokens_directly(["read", "write", "admin"]);

    let (status, body) = json_of(refresh(&oauth, &rt, Some("read")).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "read");
    let narrowed = oauth.introspect(str_field(&body, "access_token"));
    assert_eq!(narrowed.scope.as_deref(), Some("read"));

    // The new refresh token still carries the full grant, so it can get `write` back.
    let rt = str_field(&body, "refresh_token").to_owned();
    assert_eq!(
        oauth.introspect(&rt).scope.as_deref(),
        Some("read write admin")
    );
    let (status, body) = json_of(refresh(&oauth, &rt, Some("write admin")).await).await;
    assert_eq!(status, 200);
    assert_eq!(body["scope"], "write admin");
}

#[tokio::test]
async fn asking_for_more_scope_than_granted_is_invalid_scope_and_rotates_nothing() {
    let oauth = server().await;
    let (_, rt) = oauth.issue_tokens_directly(["read"]);
    let (status, body) = json_of(refresh(&oauth, &rt, Some("read delete")).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    assert!(
        oauth.introspect(&rt).active,
        "a rejected refresh does not consume the token"
    );
    assert_eq!(refresh(&oauth, &rt, None).await.status(), 200);
}

#[tokio::test]
async fn expired_access_tokens_are_inactive_and_userinfo_refuses_them() {
    let oauth = server().await;
    let (access, _) = oauth.issue_tokens_directly(["read"]);
    let userinfo = |token: String| {
        let url = oauth.userinfo_url();
        async move { client().get(url).bearer_auth(token).send().await.unwrap() }
    };
    let (status, body) = json_of(userinfo(access.clone()).await).await;
    assert_eq!(status, 200);
    assert_eq!(body["scope"], "read");
    assert_eq!(body["sub"], "user-1234");

    assert!(oauth.expire_access_token(&access));
    assert!(!oauth.introspect(&access).active);
    let response = userinfo(access.clone()).await;
    assert_eq!(response.status(), 401);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    assert!(!oauth.expire_access_token("at_unknown"));
}

#[tokio::test]
async fn revoking_one_refresh_token_kills_only_that_one() {
    let oauth = server().await;
    let (_, first) = oauth.issue_tokens_directly(["read"]);
    let (_, second) = oauth.issue_tokens_directly(["read"]);
    assert!(oauth.revoke_token(&first));
    assert!(!oauth.revoke_token("rt_unknown"));
    let (status, body) = json_of(refresh(&oauth, &first, None).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(refresh(&oauth, &second, None).await.status(), 200);
    assert_eq!(
        oauth.stats().refresh_reuse_detected,
        0,
        "revoked is not reuse"
    );
}

#[tokio::test]
async fn short_ttl_is_reported_in_expires_in() {
    let oauth = server().await;
    oauth.set_access_token_ttl(Duration::from_secs(5));
    let (_, rt) = oauth.issue_tokens_directly(["read"]);
    let (_, body) = json_of(refresh(&oauth, &rt, None).await).await;
    assert_eq!(body["expires_in"], 5);

    oauth.set_access_token_ttl(Duration::ZERO);
    let (access, _) = oauth.issue_tokens_directly(["read"]);
    assert!(
        !oauth.introspect(&access).active,
        "a zero TTL issues already-expired tokens"
    );
}

#[tokio::test]
async fn revoke_all_kills_every_token() {
    let oauth = server().await;
    let (access, rt) = oauth.issue_tokens_directly(["read"]);
    let (access2, rt2) = oauth.issue_tokens_directly(["write"]);
    assert_eq!(oauth.revoke_all(), 4);
    for token in [&access, &rt, &access2, &rt2] {
        assert!(!oauth.introspect(token).active);
    }
    let (status, body) = json_of(refresh(&oauth, &rt, None).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn introspection_and_revocation_endpoints() {
    let oauth = server().await;
    let (access, rt) = oauth.issue_tokens_directly(["read"]);
    let introspect = |token: String| {
        let url = oauth.introspect_url();
        async move {
            json_of(
                client()
                    .post(url)
                    .form(&[("token", token)])
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let (status, info) = introspect(access.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(info["active"], true);
    assert_eq!(info["token_type"], "access_token");
    assert_eq!(info["client_id"], oauth.client_id());
    assert!(info["exp"].as_u64().is_some());
    let (_, info) = introspect("nonsense".to_owned()).await;
    assert_eq!(info, serde_json::json!({ "active": false }));

    let revoke_url = format!("{}/revoke", oauth.url());
    let response = client()
        .post(&revoke_url)
        .form(&[("token", rt.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(introspect(rt).await.1["active"], false);
    assert_eq!(
        introspect(access).await.1["active"],
        true,
        "revoking a refresh token leaves the access token"
    );
}

#[tokio::test]
async fn concurrent_refreshes_with_one_token_let_exactly_one_win() {
    let oauth = server().await;
    let (_, rt) = oauth.issue_tokens_directly(["read"]);
    let attempts = (0..8).map(|_| refresh(&oauth, &rt, None));
    let statuses: Vec<u16> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 400).count(),
        7,
        "{statuses:?}"
    );
    let stats = oauth
        .wait_for(|s| s.refresh_token_requests >= 8, WAIT)
        .await
        .unwrap();
    assert_eq!((stats.refresh_accepted, stats.refresh_rejected), (1, 7));
}
