//! The authorization server's grants over real HTTP, on SQLite and PostgreSQL: a document
//! client logs a user in (development login), consents, redeems the code with PKCE; the access
//! token verifies against `/as/jwks` with the RFC 9068 claims; codes are single use (a replay
//! revokes the grant); refresh tokens rotate and a replayed one revokes the family; RFC 7009
//! revocation ends the grant.

mod as_common;
mod common;

use as_common::*;
use common::{TestBroker, all_dbs};
use jsonwebtoken::{DecodingKey, Validation, jwk::JwkSet};
use nexus_protocol::oauth::AccessTokenClaims;

/// Changes one field of a token request.
type Tamper = fn(&mut Vec<(&str, String)>);

async fn verified_claims(broker: &TestBroker, token: &str) -> AccessTokenClaims {
    let (status, jwks) = TestBroker::send(broker.http.get(format!("{}/as/jwks", broker.url))).await;
    assert_eq!(status, 200);
    let set: JwkSet = serde_json::from_value(jwks).unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let jwk = set
        .find(header.kid.as_deref().unwrap())
        .expect("kid published");
    let mut validation = Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&[RESOURCE]);
    validation.set_issuer(&[&broker.url]);
    jsonwebtoken::decode::<AccessTokenClaims>(
        token,
        &DecodingKey::from_jwk(jwk).unwrap(),
        &validation,
    )
    .expect("token verifies against /as/jwks")
    .claims
}

#[tokio::test]
async fn code_flow_mints_audience_bound_tokens_and_codes_are_single_use() {
    for db in all_dbs().await {
        let broker = as_broker(&db.url).await;
        let docs = DocServer::start().await;
        let redirect_uri = "http://127.0.0.1:33333/callback";
        let client_id = docs.client("client.json", redirect_uri);
        let (verifier, challenge) = pkce();
        let query = authorize_query(&client_id, redirect_uri, &challenge);
        let (location, _) = authorize_as(&broker, &query, "alice").await;
        assert!(
            location.starts_with(&format!("{redirect_uri}?code=")),
            "{location}"
        );
        let params = query_of(&location);
        assert_eq!(params["state"], "st-123", "{}", db.label);
        assert_eq!(params["iss"], broker.url, "RFC 9207 iss");
        let code = params["code"].clone();

        let redeem = |code: String, verifier: String| {
            let broker = &broker;
            let client_id = client_id.clone();
            async move {
                token(
                    broker,
                    &[
                        ("grant_type", "authorization_code"),
                        ("code", &code),
                        ("redirect_uri", redirect_uri),
                        ("code_verifier", &verifier),
                        ("client_id", &client_id),
                        ("resource", RESOURCE),
                    ],
                )
                .await
            }
        };
        let (status, tokens) = redeem(code.clone(), verifier.clone()).await;
        assert_eq!(status, 200, "{}: {tokens}", db.label);
        assert_eq!(tokens["token_type"], "Bearer");
        assert_eq!(tokens["scope"], "notes:read");
        assert_eq!(tokens["expires_in"], 600);
        let refresh = tokens["refresh_token"]
            .as_str()
            .expect("refresh token")
            .to_owned();
        assert!(refresh.starts_with("nxr_"));

        let claims = verified_claims(&broker, tokens["access_token"].as_str().unwrap()).await;
        assert_eq!(claims.aud, RESOURCE);
        assert_eq!(claims.client_id, client_id);
        assert_eq!(claims.scope, "notes:read");
        assert_eq!(claims.workspace_id, WS);
        assert!(claims.sub.starts_with("usr_"), "{}", claims.sub);
        assert_eq!(claims.exp - claims.iat, 600);
        assert!(claims.sid.as_deref().is_some_and(|s| s.starts_with("fam_")));
        assert_eq!(claims.act, None);

        // The same code again: refused, and the grant it minted is revoked.
        let (status, body) = redeem(code, verifier).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{body}"
        );
        let (status, body) = token(
            &broker,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh),
                ("client_id", &client_id),
            ],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{}: {body}",
            db.label
        );
        // The code itself is stored only hashed.
        let pool = common::raw_pool(&db.url).await;
        let stored: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM oauth_authorization_codes WHERE code_hash = '{}'",
            params["code"].replace('\'', "")
        )))
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(stored, 0, "codes are stored hashed");
    }
}

#[tokio::test]
async fn pkce_and_redirect_and_resource_are_checked_at_the_token_endpoint() {
    let db = common::sqlite_db();
    let broker = as_broker(&db.url).await;
    let docs = DocServer::start().await;
    add_resource(&broker, WS, "http://127.0.0.1:10/other").await;
    let redirect_uri = "http://127.0.0.1:33333/callback";
    let client_id = docs.client("client.json", redirect_uri);
    let cases: [(&str, Tamper, &str); 5] = [
        (
            "wrong verifier",
            |f| f[3].1 = "x".repeat(43),
            "invalid_grant",
        ),
        ("short verifier", |f| f[3].1 = "abc".into(), "invalid_grant"),
        (
            "other redirect",
            |f| f[2].1 = "http://127.0.0.1:33334/callback".into(),
            "invalid_grant",
        ),
        (
            "other resource",
            |f| f[5].1 = "http://127.0.0.1:10/other".into(),
            "invalid_target",
        ),
        (
            "no resource",
            |f| {
                f.remove(5);
            },
            "invalid_target",
        ),
    ];
    for (what, tamper, expected) in cases {
        let (verifier, challenge) = pkce();
        let (location, _) = authorize_as(
            &broker,
            &authorize_query(&client_id, redirect_uri, &challenge),
            "alice",
        )
        .await;
        let code = query_of(&location)["code"].clone();
        let mut form: Vec<(&str, String)> = vec![
            ("grant_type", "authorization_code".into()),
            ("code", code),
            ("redirect_uri", redirect_uri.into()),
            ("code_verifier", verifier),
            ("client_id", client_id.clone()),
            ("resource", RESOURCE.into()),
        ];
        tamper(&mut form);
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, body) = token(&broker, &pairs).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some(expected)),
            "{what}: {body}"
        );
        let text = body.to_string();
        assert!(
            !text.contains(&pairs[1].1[..10]),
            "{what}: the code is echoed: {text}"
        );
    }
    // Unknown grant type, missing parameters, unknown client: RFC 6749 JSON, never 5xx.
    for (form, status, error) in [
        (
            vec![
                ("grant_type", "password"),
                ("client_id", client_id.as_str()),
            ],
            400,
            "unsupported_grant_type",
        ),
        (
            vec![("client_id", client_id.as_str())],
            400,
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("client_id", "ocl_nobody"),
            ],
            401,
            "invalid_client",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("code", "x"),
                ("redirect_uri", redirect_uri),
                ("code_verifier", "y"),
                ("client_id", client_id.as_str()),
            ],
            400,
            "invalid_grant",
        ),
    ] {
        let (got, body) = token(&broker, &form).await;
        assert_eq!(
            (got, body["error"].as_str()),
            (status, Some(error)),
            "{form:?}: {body}"
        );
    }
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_replay_revokes_the_family() {
    for db in all_dbs().await {
        let broker = as_broker(&db.url).await;
        let docs = DocServer::start().await;
        let a = authorized_client(&broker, &docs, "client.json").await;
        let rt1 = a.tokens["refresh_token"].as_str().unwrap().to_owned();
        let rt1_text = rt1.clone();
        let refresh = |rt: String, extra: Vec<(&'static str, &'static str)>| {
            let broker = &broker;
            let client_id = a.client_id.clone();
            async move {
                let mut form = vec![
                    ("grant_type", "refresh_token"),
                    ("refresh_token", rt.as_str()),
                    ("client_id", client_id.as_str()),
                ];
                form.extend(extra);
                token(broker, &form).await
            }
        };
        // A narrower scope outside the grant, another resource: refused without spending RT1.
        let (status, body) = refresh(rt1.clone(), vec![("scope", "notes:write")]).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_scope")),
            "{body}"
        );
        let (status, body) =
            refresh(rt1.clone(), vec![("resource", "http://127.0.0.1:11/none")]).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_target")),
            "{body}"
        );

        let (status, body) = refresh(rt1.clone(), vec![]).await;
        assert_eq!(status, 200, "{}: {body}", db.label);
        let rt2 = body["refresh_token"].as_str().unwrap().to_owned();
        assert_ne!(rt1, rt2, "rotated");
        let claims = verified_claims(&broker, body["access_token"].as_str().unwrap()).await;
        assert_eq!(claims.aud, RESOURCE);

        // RT1 again: reuse. The family is revoked, so RT2 dies too.
        let (status, body) = refresh(rt1, vec![]).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{body}"
        );
        let (status, body) = refresh(rt2, vec![]).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{}: {body}",
            db.label
        );
        let pool = common::raw_pool(&db.url).await;
        let reason: Option<String> =
            sqlx::query_scalar("SELECT revoked_reason FROM oauth_token_families")
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(reason.as_deref(), Some("refresh_reuse"));
        // Recorded in the workspace's audit chain, without the token.
        let (status, records) = TestBroker::send(broker.admin(
            reqwest::Method::GET,
            &format!("/admin/v1/audit?workspace_id={WS}"),
        ))
        .await;
        assert_eq!(status, 200, "{records}");
        let text = records.to_string();
        assert!(
            text.contains("oauth.refresh_reuse") && text.contains("oauth.token"),
            "{text}"
        );
        assert!(!text.contains(&rt1_text), "no token in the audit log");
    }
}

#[tokio::test]
async fn concurrent_refreshes_one_wins_and_the_other_is_a_reuse() {
    for db in all_dbs().await {
        let broker = as_broker(&db.url).await;
        let docs = DocServer::start().await;
        let a = authorized_client(&broker, &docs, "client.json").await;
        let rt = a.tokens["refresh_token"].as_str().unwrap().to_owned();
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", rt.as_str()),
            ("client_id", a.client_id.as_str()),
        ];
        let (one, two) = tokio::join!(token(&broker, &form), token(&broker, &form));
        let mut statuses = [one.0, two.0];
        statuses.sort();
        assert_eq!(statuses, [200, 400], "{}: {one:?} {two:?}", db.label);
        let winner = if one.0 == 200 { one.1 } else { two.1 };
        let next = winner["refresh_token"].as_str().unwrap();
        let (status, _) = token(
            &broker,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", next),
                ("client_id", a.client_id.as_str()),
            ],
        )
        .await;
        assert_eq!(status, 400, "the loser's reuse revoked the family");
    }
}

#[tokio::test]
async fn revocation_ends_the_grant_and_answers_200_for_unknown_tokens() {
    let db = common::sqlite_db();
    let broker = as_broker(&db.url).await;
    let docs = DocServer::start().await;
    let revoke = |token_value: String, client: String| {
        let broker = &broker;
        async move {
            let resp = broker
                .http
                .post(format!("{}/as/revoke", broker.url))
                .form(&[
                    ("token", token_value.as_str()),
                    ("client_id", client.as_str()),
                ])
                .send()
                .await
                .unwrap();
            resp.status().as_u16()
        }
    };
    // By refresh token.
    let a = authorized_client(&broker, &docs, "one.json").await;
    let rt = a.tokens["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(revoke(rt.clone(), a.client_id.clone()).await, 200);
    let (status, body) = token(
        &broker,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("client_id", &a.client_id),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // By access token: its `sid` names the family.
    let b = authorized_client(&broker, &docs, "two.json").await;
    let at = b.tokens["access_token"].as_str().unwrap().to_owned();
    // Another client's revocation of it is ignored (still 200).
    assert_eq!(revoke(at.clone(), a.client_id.clone()).await, 200);
    let rt_b = b.tokens["refresh_token"].as_str().unwrap().to_owned();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt_b.as_str()),
        ("client_id", b.client_id.as_str()),
    ];
    let (status, body) = token(&broker, &form).await;
    assert_eq!(status, 200, "{body}");
    let rt_b2 = body["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(revoke(at, b.client_id.clone()).await, 200);
    let (status, _) = token(
        &broker,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt_b2),
            ("client_id", &b.client_id),
        ],
    )
    .await;
    assert_eq!(status, 400);
    // Unknown token: 200. Missing token: 400 invalid_request.
    assert_eq!(revoke("nxr_unknown".into(), a.client_id.clone()).await, 200);
    let (status, body) = TestBroker::send(
        broker
            .http
            .post(format!("{}/as/revoke", broker.url))
            .form(&[("client_id", a.client_id.as_str())]),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
}
