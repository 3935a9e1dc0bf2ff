//! The done-when test of the 401 rule for Rust: the provider revokes an access token early (a
//! password change), and `AuthenticatedClient` and `authenticated_fetch` each recover with
//! exactly one forced refresh at the provider and a 200, through the real stack (`nexus dev`),
//! the testkit's OAuth provider and an echo upstream that asks the provider whether a token is
//! still active. Skipped unless the run asks for the stack (see `support::stack`).

mod support;

use nexus_sdk::{AuthenticatedClient, FetchRequest, NexusClient, TokenCache};
use nexus_testkit::{EchoServer, OAuthServer, OAuthServerOptions, Requirement};
use serde_json::json;
use support::stack::{DevStack, admin_post, dev_stack};

const PROVIDER: &str = "revocable-oauth";

/// An OAuth provider in the stack backed by `oauth`, whose API is `echo`, with one connection.
async fn connect(stack: &DevStack, oauth: &OAuthServer, echo: &EchoServer) {
    let ws = &stack.env["NEXUS_WORKSPACE_ID"];
    admin_post(
        stack,
        "/admin/v1/providers",
        json!({
            "name": PROVIDER, "auth_type": "oauth2",
            "client_id": oauth.client_id(), "client_secret": oauth.client_secret(),
            "auth_url": oauth.authorize_url(), "token_url": oauth.token_url(),
            "api_base_url": echo.url(),
        }),
    )
    .await;
    let (_access, refresh) = oauth.issue_tokens_directly(["read"]);
    admin_post(
        stack,
        &format!("/admin/v1/workspaces/{ws}/connections/import"),
        json!({"provider_name": PROVIDER, "kind": "refresh_token", "secret": refresh}),
    )
    .await;
}

/// Revoke every access token at the provider, send one request through `send`, and check the
/// result: a 200, exactly one refresh at the provider, and the upstream saw 401 then 200.
async fn recovers_after_revocation<F, Fut>(oauth: &OAuthServer, echo: &EchoServer, send: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = u16>,
{
    assert_eq!(send().await, 200, "the warm-up request is accepted");
    assert!(
        oauth.revoke_access_tokens() >= 1,
        "a live token was revoked"
    );
    echo.clear_requests();
    let refreshes = oauth.stats().refresh_accepted;

    assert_eq!(send().await, 200, "recovered after one forced refresh");
    assert_eq!(
        oauth.stats().refresh_accepted,
        refreshes + 1,
        "exactly one refresh"
    );
    let statuses: Vec<u16> = echo.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [401, 200], "one rejected attempt, one retry");
}

#[tokio::test(flavor = "multi_thread")]
async fn early_revocation_recovers_through_every_rust_entry_point() {
    let Some(stack) = dev_stack() else {
        return;
    };
    let oauth = OAuthServer::start(OAuthServerOptions::default()).await;
    let echo = EchoServer::start().await;
    echo.require(Requirement::active_token_from(&oauth));
    connect(&stack, &oauth, &echo).await;
    let ws = stack.env["NEXUS_WORKSPACE_ID"].clone();
    let client = NexusClient::new(nexus_sdk::ClientOptions::new(
        stack.env["NEXUS_GATEWAY_URL"].clone(),
        stack.env["NEXUS_API_KEY"].clone(),
    ))
    .expect("client");
    let url = format!("{}/v1/data", echo.url());

    let http = AuthenticatedClient::new(client.clone(), TokenCache::new(), ws.clone(), PROVIDER);
    let (http, url) = (&http, url.as_str());
    recovers_after_revocation(&oauth, &echo, move || async move {
        let request = http.request(reqwest::Method::GET, url).build().unwrap();
        http.execute(request)
            .await
            .expect("execute")
            .status()
            .as_u16()
    })
    .await;

    let cache = TokenCache::new();
    let (client, cache, ws) = (&client, &cache, ws.as_str());
    recovers_after_revocation(&oauth, &echo, move || async move {
        let request = FetchRequest {
            method: "GET".into(),
            url: url.to_owned(),
            ..FetchRequest::default()
        };
        let response = client
            .authenticated_fetch(cache, ws, PROVIDER, request)
            .await
            .expect("fetch");
        response.status
    })
    .await;
}
