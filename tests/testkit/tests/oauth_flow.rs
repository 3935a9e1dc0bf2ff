//! Authorization code + PKCE flow, client authentication, discovery and ID tokens, over HTTP.

mod common;

use common::*;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use nexus_testkit::{AuthorizeMode, ClientAuth, IssParam, OAuthServer, OAuthServerOptions};
use serde_json::Value;

async fn server() -> OAuthServer {
    OAuthServer::start(OAuthServerOptions::default()).await
}

#[tokio::test]
async fn code_flow_with_pkce_issues_tokens_and_redirect_carries_state_and_iss() {
    let oauth = server().await;
    let response = authorize(&oauth, &[]).await;
    assert_eq!(response.status(), 302);
    let params = location_params(&response);
    assert_eq!(params.get("state").map(String::as_str), Some("state-123"));
    assert_eq!(params.get("iss"), Some(&oauth.issuer()));
    let code = params.get("code").expect("code");
    assert!(
        response.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with(REDIRECT_URI)
    );

    let (status, body) = json_of(redeem(&oauth, code, VERIFIER).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "openid read write");
    let access = str_field(&body, "access_token");
    let refresh = str_field(&body, "refresh_token");
    assert_ne!(access, refresh);

    let info = oauth.introspect(access);
    assert!(info.active);
    assert_eq!(info.scope.as_deref(), Some("openid read write"));
    assert!(oauth.introspect(refresh).active);
    let stats = oauth.stats();
    assert_eq!(
        (
            stats.authorize_requests,
            stats.codes_issued,
            stats.authorization_code_requests
        ),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn wrong_verifier_is_invalid_grant_and_leaves_the_code_usable() {
    let oauth = server().await;
    let code = obtain_code(&oauth, "read").await;
    let wrong = "another-verifier-0123456789-0123456789-0123456789";
    let (status, body) = json_of(redeem(&oauth, &code, wrong).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    let (status, body) = json_of(
        token_request(
            &oauth,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "missing verifier"
    );

    let (status, _) = json_of(redeem(&oauth, &code, VERIFIER).await).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn code_is_single_use_and_reuse_revokes_what_it_issued() {
    let oauth = server().await;
    let code = obtain_code(&oauth, "read").await;
    let (_, first) = json_of(redeem(&oauth, &code, VERIFIER).await).await;
    let access = str_field(&first, "access_token");
    assert!(oauth.introspect(access).active);

    let (status, body) = json_of(redeem(&oauth, &code, VERIFIER).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(
        !oauth.introspect(access).active,
        "reuse of a code revokes its tokens"
    );
    assert!(!oauth.introspect(str_field(&first, "refresh_token")).active);
}

#[tokio::test]
async fn token_redirect_uri_must_match_the_authorization_request() {
    let oauth = server().await;
    let code = obtain_code(&oauth, "read").await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "http://127.0.0.1:9/other"),
        ("code_verifier", VERIFIER),
    ];
    let (status, body) = json_of(token_request(&oauth, &form).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn authorize_rejects_bad_requests_without_redirecting_to_unverified_uris() {
    let oauth = OAuthServer::start(OAuthServerOptions {
        redirect_uris: vec![REDIRECT_URI.to_owned()],
        ..OAuthServerOptions::default()
    })
    .await;
    for overrides in [
        vec![("client_id", "someone-else")],
        vec![("redirect_uri", "http://127.0.0.1:9/elsewhere")],
        vec![("redirect_uri", "")],
    ] {
        let response = authorize(&oauth, &overrides).await;
        assert_eq!(response.status(), 400, "{overrides:?}");
        assert!(response.headers().get("location").is_none());
    }
}

#[tokio::test]
async fn authorize_errors_after_client_check_are_redirected_with_state() {
    let oauth = server().await;
    let cases: [(&[(&str, &str)], &str); 5] = [
        (&[("response_type", "token")], "unsupported_response_type"),
        (&[("code_challenge", "")], "invalid_request"),
        (&[("code_challenge_method", "plain")], "invalid_request"),
        (&[("code_challenge", "too-short")], "invalid_request"),
        (&[("state", "")], "invalid_request"),
    ];
    for (overrides, error) in cases {
        let response = authorize(&oauth, overrides).await;
        assert_eq!(response.status(), 302, "{overrides:?}");
        let params = location_params(&response);
        assert_eq!(
            params.get("error").map(String::as_str),
            Some(error),
            "{overrides:?}"
        );
        assert!(!params.contains_key("code"));
    }
    assert_eq!(oauth.stats().codes_issued, 0);
}

#[tokio::test]
async fn deny_mode_redirects_with_access_denied() {
    let oauth = server().await;
    oauth.set_authorize_mode(AuthorizeMode::Deny);
    let params = location_params(&authorize(&oauth, &[]).await);
    assert_eq!(
        params.get("error").map(String::as_str),
        Some("access_denied")
    );
    assert_eq!(params.get("state").map(String::as_str), Some("state-123"));
    assert!(!params.contains_key("code"));

    oauth.set_authorize_mode(AuthorizeMode::Approve);
    assert!(location_params(&authorize(&oauth, &[]).await).contains_key("code"));
}

#[tokio::test]
async fn iss_parameter_can_be_omitted_or_wrong() {
    let oauth = server().await;
    oauth.set_iss_param(IssParam::Omit);
    assert!(!location_params(&authorize(&oauth, &[]).await).contains_key("iss"));
    oauth.set_iss_param(IssParam::Override("https://evil.example".to_owned()));
    let params = location_params(&authorize(&oauth, &[]).await);
    assert_eq!(
        params.get("iss").map(String::as_str),
        Some("https://evil.example")
    );
}

#[tokio::test]
async fn grantable_scopes_limit_what_a_user_consents_to() {
    let oauth = server().await;
    oauth.set_grantable_scopes(Some(vec!["read".to_owned()]));
    let code = obtain_code(&oauth, "read write").await;
    let (_, body) = json_of(redeem(&oauth, &code, VERIFIER).await).await;
    assert_eq!(body["scope"], "read");
}

#[tokio::test]
async fn client_auth_methods_and_wrong_secret() {
    let oauth = server().await;
    let (_, refresh) = oauth.issue_tokens_directly(["read"]);
    let form = |secret: &str| {
        vec![
            ("grant_type".to_owned(), "refresh_token".to_owned()),
            ("client_id".to_owned(), oauth.client_id()),
            ("client_secret".to_owned(), secret.to_owned()),
        ]
    };

    // client_secret_post with a wrong secret → 401 invalid_client (and nothing rotated).
    let mut wrong = form("not-the-secret");
    wrong.push(("refresh_token".to_owned(), refresh.clone()));
    let response = client()
        .post(oauth.token_url())
        .form(&wrong)
        .send()
        .await
        .unwrap();
    assert!(response.headers().contains_key("www-authenticate"));
    let (status, body) = json_of(response).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert!(oauth.introspect(&refresh).active);

    // Wrong Basic secret → 401.
    let response = client()
        .post(oauth.token_url())
        .basic_auth(oauth.client_id(), Some("nope"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    // No client authentication at all → 401.
    let response = client()
        .post(oauth.token_url())
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    // Post required: Basic is refused, post accepted.
    oauth.set_client_auth(ClientAuth::Post);
    assert_eq!(refresh_status(&oauth, &refresh).await, 401);
    let mut right = form(&oauth.client_secret());
    right.push(("refresh_token".to_owned(), refresh.clone()));
    let (status, body) = json_of(
        client()
            .post(oauth.token_url())
            .form(&right)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // Basic required: post is refused.
    oauth.set_client_auth(ClientAuth::Basic);
    let mut post = form(&oauth.client_secret());
    post.push((
        "refresh_token".to_owned(),
        str_field(&body, "refresh_token").to_owned(),
    ));
    let response = client()
        .post(oauth.token_url())
        .form(&post)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let log = oauth.token_request_log();
    assert_eq!(
        log.last().map(|r| r.client_auth.as_str()),
        Some("client_secret_post")
    );
}

async fn refresh_status(oauth: &OAuthServer, refresh_token: &str) -> u16 {
    refresh(oauth, refresh_token, None).await.status().as_u16()
}

#[tokio::test]
async fn basic_credentials_are_form_urlencoded() {
    let oauth = OAuthServer::start(OAuthServerOptions {
        client_id: "id with:colon".to_owned(),
        client_secret: "s3cr+t/%".to_owned(),
        ..OAuthServerOptions::default()
    })
    .await;
    let (_, refresh) = oauth.issue_tokens_directly(["read"]);
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let response = client()
        .post(oauth.token_url())
        .basic_auth(
            encode(&oauth.client_id()),
            Some(encode(&oauth.client_secret())),
        )
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn malformed_token_requests_get_typed_errors() {
    let oauth = server().await;
    let cases: [(&[(&str, &str)], &str); 4] = [
        (&[], "invalid_request"),
        (&[("grant_type", "password")], "unsupported_grant_type"),
        (&[("grant_type", "authorization_code")], "invalid_request"),
        (&[("grant_type", "refresh_token")], "invalid_request"),
    ];
    for (form, error) in cases {
        let (status, body) = json_of(token_request(&oauth, form).await).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some(error)),
            "{form:?}"
        );
    }
    // A repeated parameter is invalid (RFC 6749 §3.2).
    let response = client()
        .post(oauth.token_url())
        .basic_auth(oauth.client_id(), Some(oauth.client_secret()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=refresh_token&grant_type=refresh_token&refresh_token=x")
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    assert_eq!(oauth.token_request_log().len(), 5);
}

#[tokio::test]
async fn id_token_is_signed_with_the_published_key_and_carries_the_nonce() {
    let oauth = server().await;
    let (_, discovery) = json_of(client().get(oauth.discovery_url()).send().await.unwrap()).await;
    assert_eq!(discovery["issuer"], oauth.issuer());
    assert_eq!(discovery["token_endpoint"], oauth.token_url());
    assert_eq!(
        discovery["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    let jwks_uri = str_field(&discovery, "jwks_uri").to_owned();
    let jwks: JwkSet = client()
        .get(jwks_uri)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let code = obtain_code(&oauth, "openid read").await;
    let (_, body) = json_of(redeem(&oauth, &code, VERIFIER).await).await;
    let id_token = str_field(&body, "id_token");
    let header = jsonwebtoken::decode_header(id_token).unwrap();
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("kid published in JWKS");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[oauth.client_id()]);
    validation.set_issuer(&[oauth.issuer()]);
    let claims =
        jsonwebtoken::decode::<Value>(id_token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
            .expect("valid signature and claims")
            .claims;
    assert_eq!(claims["nonce"], "nonce-456");
    assert_eq!(claims["sub"], "user-1234");
    assert!(claims["exp"].as_i64() > claims["iat"].as_i64());

    // Without openid there is no id_token.
    let code = obtain_code(&oauth, "read").await;
    let (_, body) = json_of(redeem(&oauth, &code, VERIFIER).await).await;
    assert!(body.get("id_token").is_none());
}

#[tokio::test]
async fn client_credentials_grant_issues_an_access_token_only() {
    let oauth = server().await;
    let (status, body) = json_of(
        token_request(
            &oauth,
            &[("grant_type", "client_credentials"), ("scope", "admin")],
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["scope"], "admin");
    assert!(body.get("refresh_token").is_none());
    assert_eq!(oauth.stats().client_credentials_requests, 1);
}
