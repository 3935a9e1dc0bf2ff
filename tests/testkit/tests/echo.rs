//! The echo upstream over real HTTP: description of requests, recording, programmable paths and
//! the required-credential switch.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::*;
use futures::StreamExt;
use nexus_testkit::{EchoServer, Requirement};
use serde_json::json;

#[tokio::test]
async fn echoes_method_path_query_headers_and_body_and_records_them() {
    let echo = EchoServer::start().await;
    let response = client()
        .post(format!("{}/v1/items?a=1&b=two%20words&a=3", echo.url()))
        .header("X-Custom", "yes")
        .header("Content-Type", "application/octet-stream")
        .body(vec![0u8, 159, 146, 150, b'x'])
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_eq!(status, 200);
    assert_eq!(body["method"], "POST");
    assert_eq!(body["path"], "/v1/items");
    assert_eq!(body["query"], json!({"a": "3", "b": "two words"}));
    assert_eq!(body["raw_query"], "a=1&b=two%20words&a=3");
    assert_eq!(body["headers"]["x-custom"], "yes");
    assert_eq!(
        STANDARD.decode(str_field(&body, "body_base64")).unwrap(),
        [0u8, 159, 146, 150, b'x']
    );

    let recorded = echo.requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].status, 200);
    assert_eq!(recorded[0].request.method, "POST");
    assert_eq!(serde_json::to_value(&recorded[0].request).unwrap(), body);

    echo.clear_requests();
    assert!(echo.requests().is_empty());
}

#[tokio::test]
async fn status_paths_answer_that_status() {
    let echo = EchoServer::start().await;
    for code in [201u16, 404, 429, 500, 503] {
        let response = client()
            .get(format!("{}/status/{code}", echo.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), code);
    }
    let response = client()
        .get(format!("{}/status/204", echo.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert!(response.bytes().await.unwrap().is_empty());
    for bad in ["99", "600", "abc"] {
        let response = client()
            .get(format!("{}/status/{bad}", echo.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{bad}");
    }
    let statuses: Vec<u16> = echo.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [201, 404, 429, 500, 503, 204, 400, 400, 400]);
}

#[tokio::test]
async fn garbage_is_not_json() {
    let echo = EchoServer::start().await;
    let response = client()
        .get(format!("{}/garbage", echo.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let bytes = response.bytes().await.unwrap();
    assert!(serde_json::from_slice::<serde_json::Value>(&bytes).is_err());
}

#[tokio::test]
async fn stream_arrives_in_several_pieces() {
    let echo = EchoServer::start().await;
    let response = client()
        .get(format!("{}/stream?chunks=4", echo.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers().get("content-length").is_none(),
        "chunked, no length"
    );
    let mut pieces = 0;
    let mut text = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(piece) = stream.next().await {
        pieces += 1;
        text.extend_from_slice(&piece.unwrap());
    }
    assert_eq!(
        String::from_utf8(text).unwrap(),
        "chunk 0\nchunk 1\nchunk 2\nchunk 3\n"
    );
    assert!(pieces > 1, "received as {pieces} piece(s)");
}

#[tokio::test]
async fn required_credential_gates_requests_and_can_change_at_run_time() {
    let echo = EchoServer::start().await;
    echo.require(Requirement::bearer("token-1"));
    let get = |token: Option<&'static str>| {
        let url = format!("{}/v1/me", echo.url());
        async move {
            let request = client().get(url);
            let request = match token {
                Some(token) => request.bearer_auth(token),
                None => request,
            };
            request.send().await.unwrap()
        }
    };
    let response = get(None).await;
    assert_eq!(response.status(), 401);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    assert_eq!(get(Some("token-1")).await.status(), 200);

    // Rotate: the old credential is now refused (the SDK's 401 → refresh → retry path).
    echo.require(Requirement::bearer("token-2"));
    assert_eq!(get(Some("token-1")).await.status(), 401);
    assert_eq!(get(Some("token-2")).await.status(), 200);

    echo.require(Requirement::Query {
        name: "api_key".to_owned(),
        value: "k 1".to_owned(),
    });
    let ok = client()
        .get(format!("{}/x?api_key=k%201", echo.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let wrong = client()
        .get(format!("{}/x?api_key=k2", echo.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    echo.require(Requirement::None);
    assert_eq!(get(None).await.status(), 200);
    let statuses: Vec<u16> = echo.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [401, 200, 401, 200, 200, 401, 200]);
}

#[tokio::test]
async fn control_api_over_http() {
    let echo = EchoServer::start().await;
    let base = echo.url();
    let require = json!({"kind": "header", "name": "X-Api-Key", "value": "secret-1"});
    let response = client()
        .post(format!("{base}/_control/require"))
        .json(&require)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    assert_eq!(
        echo.requirement(),
        Requirement::Header {
            name: "X-Api-Key".to_owned(),
            value: "secret-1".to_owned()
        }
    );
    assert_eq!(
        client()
            .get(format!("{base}/a"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let ok = client()
        .get(format!("{base}/b"))
        .header("x-api-key", "secret-1")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let bad = json!({"kind": "header", "name": "X"});
    assert!(
        client()
            .post(format!("{base}/_control/require"))
            .json(&bad)
            .send()
            .await
            .unwrap()
            .status()
            .is_client_error()
    );

    let (status, log) = json_of(
        client()
            .get(format!("{base}/_control/requests"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    let log = log.as_array().unwrap().clone();
    assert_eq!(log.len(), 2, "control requests are not recorded");
    assert_eq!(
        (log[0]["path"].as_str(), log[0]["status"].as_u64()),
        (Some("/a"), Some(401))
    );
    assert_eq!(log[1]["headers"]["x-api-key"], "secret-1");

    assert!(
        client()
            .delete(format!("{base}/_control/requests"))
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    assert!(echo.requests().is_empty());
}

#[tokio::test]
async fn waiting_for_requests_in_rust_and_over_http() {
    let echo = EchoServer::start().await;
    let wait_url = format!("{}/_control/wait?requests=2&timeout_ms=10000", echo.url());
    let waiter = tokio::spawn(async move {
        client()
            .get(wait_url)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    let url = echo.url();
    tokio::spawn(async move {
        for path in ["one", "two"] {
            client().get(format!("{url}/{path}")).send().await.unwrap();
        }
    });
    let seen = echo.wait_for_requests(2, WAIT).await.unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(waiter.await.unwrap(), 200);

    let error = echo
        .wait_for_requests(3, std::time::Duration::from_millis(20))
        .await
        .unwrap_err();
    assert_eq!(error.last, 2);
    let timeout_url = format!("{}/_control/wait?requests=3&timeout_ms=20", echo.url());
    assert_eq!(
        client().get(timeout_url).send().await.unwrap().status(),
        408
    );
}

#[tokio::test]
async fn a_dropped_server_stops_answering() {
    let echo = EchoServer::start().await;
    let url = echo.url();
    assert_eq!(
        client()
            .get(format!("{url}/x"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    echo.shutdown().await;
    // A fresh client, so no pooled connection is reused.
    assert!(client().get(format!("{url}/x")).send().await.is_err());
}

#[tokio::test]
async fn oauth_token_gate_follows_expiry_refresh_and_scope() {
    use nexus_testkit::{OAuthServer, OAuthServerOptions};
    let oauth = OAuthServer::start(OAuthServerOptions::default()).await;
    let echo = EchoServer::start().await;
    echo.require(Requirement::active_token_from(&oauth));
    let (access, rt) = oauth.issue_tokens_directly(["read", "write"]);
    let call = |token: String| {
        let url = format!("{}/v1/data", echo.url());
        async move { client().get(url).bearer_auth(token).send().await.unwrap() }
    };

    assert_eq!(call(access.clone()).await.status(), 200);
    assert_eq!(call("at_forged".to_owned()).await.status(), 401);
    assert_eq!(
        call(rt.clone()).await.status(),
        401,
        "a refresh token is not an access token"
    );
    assert_eq!(
        client()
            .get(format!("{}/v1/data", echo.url()))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    // The provider expires the token: the upstream refuses it, a refreshed token works.
    oauth.expire_access_token(&access);
    assert_eq!(call(access.clone()).await.status(), 401);
    let (_, body) = json_of(refresh(&oauth, &rt, None).await).await;
    assert_eq!(
        call(str_field(&body, "access_token").to_owned())
            .await
            .status(),
        200
    );

    // A scope requirement: a narrowed token gets 403 insufficient_scope.
    let scoped = json!({"kind": "oauth_token", "introspection_url": oauth.introspect_url(), "scope": "write"});
    let set = client()
        .post(format!("{}/_control/require", echo.url()))
        .json(&scoped)
        .send()
        .await
        .unwrap();
    assert!(set.status().is_success());
    let (_, narrowed) =
        json_of(refresh(&oauth, str_field(&body, "refresh_token"), Some("read")).await).await;
    let response = call(str_field(&narrowed, "access_token").to_owned()).await;
    assert_eq!(response.status(), 403);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );

    // The OAuth server going away is a 502 from the gate, not a silent pass.
    let token = str_field(&narrowed, "access_token").to_owned();
    oauth.shutdown().await;
    assert_eq!(call(token).await.status(), 502);
}

#[tokio::test]
async fn delay_holds_the_answer() {
    let echo = EchoServer::start().await;
    let impatient = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(100))
        .build()
        .unwrap();
    let error = impatient
        .get(format!("{}/delay/60000", echo.url()))
        .send()
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error}");
    let (status, body) = json_of(
        client()
            .get(format!("{}/delay/5", echo.url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body["path"].as_str()), (200, Some("/delay/5")));
    assert_eq!(
        client()
            .get(format!("{}/delay/soon", echo.url()))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
}

#[tokio::test]
async fn early_access_token_revocation_gets_401_until_a_refresh() {
    use nexus_testkit::{OAuthServer, OAuthServerOptions};
    let oauth = OAuthServer::start(OAuthServerOptions::default()).await;
    let echo = EchoServer::start().await;
    echo.require(Requirement::active_token_from(&oauth));
    let (access, rt) = oauth.issue_tokens_directly(["read"]);
    let call = |token: String| {
        let url = format!("{}/v1/data", echo.url());
        async move { client().get(url).bearer_auth(token).send().await.unwrap() }
    };
    assert_eq!(call(access.clone()).await.status(), 200);

    // Over HTTP, as the Python, Node and Go suites do it.
    let (status, body) = json_of(
        client()
            .post(format!("{}/_control/revoke-access-tokens", oauth.url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body["revoked"].as_u64()), (200, Some(1)));
    assert_eq!(call(access.clone()).await.status(), 401);
    assert!(
        oauth.introspect(&rt).active,
        "the refresh token survives an access-token revocation"
    );

    let (status, refreshed) = json_of(refresh(&oauth, &rt, None).await).await;
    assert_eq!(status, 200, "{refreshed}");
    let fresh = str_field(&refreshed, "access_token").to_owned();
    assert_eq!(call(fresh.clone()).await.status(), 200);
    assert_eq!(call(access).await.status(), 401, "the old one stays dead");

    // The Rust method revokes the new one too; nothing live is left after that.
    assert_eq!(oauth.revoke_access_tokens(), 1);
    assert_eq!(call(fresh).await.status(), 401);
    assert_eq!(oauth.revoke_access_tokens(), 0);
}
