//! MCP enterprise-managed authorization over real HTTP, on SQLite and PostgreSQL: a loopback
//! identity provider (the testkit OAuth server: real JWKS endpoint, test signing key) issues
//! ID-JAGs; a confidential client redeems them at `/as/token` with the RFC 7523 JWT-bearer
//! grant. The happy path mints an access token for the assertion's resource (no refresh
//! token); each bad assertion gets its own OAuth error and writes nothing (no user, no grant,
//! no spent `jti`).

mod as_common;
mod common;

use as_common::*;
use common::{TestBroker, all_dbs};
use jsonwebtoken::{DecodingKey, Validation, jwk::JwkSet};
use nexus_protocol::oauth::{AccessTokenClaims, GRANT_JWT_BEARER, ID_JAG_TYP};
use nexus_testkit::{OAuthServer, OAuthServerOptions};
use serde_json::{Value, json};

struct Fixture {
    broker: TestBroker,
    idp: OAuthServer,
    client_id: String,
    client_secret: String,
}

async fn add_idp(broker: &TestBroker, idp: &OAuthServer, allow_id_jag: bool) {
    let (status, body) = TestBroker::send(
        broker
            .admin(
                reqwest::Method::POST,
                &format!("/admin/v1/workspaces/{WS}/identity-providers"),
            )
            .json(&json!({
                "issuer": idp.issuer(), "jwks_url": idp.jwks_url(), "allow_id_jag": allow_id_jag
            })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["allow_id_jag"], allow_id_jag, "{body}");
}

/// Register a client at `/as/register`; (client_id, client_secret).
async fn register(broker: &TestBroker, body: Value) -> (u16, Value) {
    TestBroker::send(
        broker
            .http
            .post(format!("{}/as/register", broker.url))
            .json(&body),
    )
    .await
}

async fn fixture(db_url: &str) -> Fixture {
    let broker = as_broker(db_url).await;
    let idp = OAuthServer::start(OAuthServerOptions::default()).await;
    add_idp(&broker, &idp, true).await;
    let (status, client) = register(
        &broker,
        json!({
            "client_name": "Enterprise agent", "grant_types": [GRANT_JWT_BEARER],
            "token_endpoint_auth_method": "client_secret_post"
        }),
    )
    .await;
    assert_eq!(status, 201, "{client}");
    Fixture {
        client_id: client["client_id"].as_str().unwrap().to_owned(),
        client_secret: client["client_secret"].as_str().unwrap().to_owned(),
        broker,
        idp,
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Fixture {
    /// Valid claims of an ID-JAG for alice, this client, [`RESOURCE`].
    fn claims(&self) -> Value {
        json!({
            "iss": self.idp.issuer(), "sub": "alice@corp.example", "aud": self.broker.url,
            "resource": RESOURCE, "client_id": self.client_id,
            "jti": uuid::Uuid::new_v4().to_string(), "iat": now(), "exp": now() + 300,
            "scope": "notes:read notes:write"
        })
    }

    fn id_jag(&self, claims: &Value) -> String {
        self.idp.mint_jwt_typed(ID_JAG_TYP, claims)
    }

    async fn redeem(&self, assertion: &str) -> (u16, Value) {
        self.redeem_with(assertion, &[]).await
    }

    async fn redeem_with(&self, assertion: &str, extra: &[(&str, &str)]) -> (u16, Value) {
        let mut form = vec![
            ("grant_type", GRANT_JWT_BEARER),
            ("assertion", assertion),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.as_str()),
        ];
        form.extend_from_slice(extra);
        token(&self.broker, &form).await
    }
}

async fn verified_claims(broker: &TestBroker, token: &str) -> AccessTokenClaims {
    let (status, jwks) = TestBroker::send(broker.http.get(format!("{}/as/jwks", broker.url))).await;
    assert_eq!(status, 200);
    let set: JwkSet = serde_json::from_value(jwks).unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let jwk = set.find(header.kid.as_deref().unwrap()).expect("kid");
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

async fn count(db_url: &str, table: &str) -> i64 {
    let pool = common::raw_pool(db_url).await;
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
        .fetch_one(&pool)
        .await
        .unwrap()
}

fn assert_error(label: &str, answer: &(u16, Value), status: u16, code: &str, assertion: &str) {
    assert_eq!(answer.0, status, "{label}: {}", answer.1);
    assert_eq!(answer.1["error"], code, "{label}: {}", answer.1);
    let text = answer.1.to_string();
    assert!(
        answer.1["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{label}: {text}"
    );
    assert!(!text.contains(assertion), "{label}: assertion echoed");
}

#[tokio::test]
async fn an_id_jag_is_redeemed_once_for_an_audience_bound_token_without_refresh() {
    for db in all_dbs().await {
        let f = fixture(&db.url).await;
        let (status, metadata) = TestBroker::send(f.broker.http.get(format!(
            "{}/.well-known/oauth-authorization-server",
            f.broker.url
        )))
        .await;
        assert_eq!(status, 200);
        assert!(
            metadata["grant_types_supported"]
                .as_array()
                .unwrap()
                .contains(&json!(GRANT_JWT_BEARER)),
            "{metadata}"
        );
        assert_eq!(
            metadata["authorization_grant_profiles_supported"],
            json!(["urn:ietf:params:oauth:grant-profile:id-jag"])
        );

        let claims = f.claims();
        let assertion = f.id_jag(&claims);
        let (status, tokens) = f.redeem_with(&assertion, &[("resource", RESOURCE)]).await;
        assert_eq!(status, 200, "{}: {tokens}", db.label);
        assert_eq!(tokens["token_type"], "Bearer");
        assert_eq!(tokens["scope"], "notes:read notes:write");
        assert!(tokens.get("refresh_token").is_none(), "{tokens}");
        let at = verified_claims(&f.broker, tokens["access_token"].as_str().unwrap()).await;
        assert_eq!(at.aud, RESOURCE);
        assert_eq!(at.client_id, f.client_id);
        assert_eq!(at.scope, "notes:read notes:write");
        assert_eq!(at.workspace_id, WS);
        assert!(at.sub.starts_with("usr_"), "{}", at.sub);

        // Replay of the same assertion: refused, nothing new written.
        let replay = f.redeem(&assertion).await;
        assert_error("replay", &replay, 400, "invalid_grant", &assertion);
        assert!(
            replay.1["error_description"]
                .as_str()
                .unwrap()
                .contains("already used")
        );

        // A second ID-JAG for the same person: the same user; a narrower request narrows.
        let second = f.id_jag(&f.claims());
        let (status, narrow) = f.redeem_with(&second, &[("scope", "notes:read")]).await;
        assert_eq!(status, 200, "{narrow}");
        assert_eq!(narrow["scope"], "notes:read");
        let again = verified_claims(&f.broker, narrow["access_token"].as_str().unwrap()).await;
        assert_eq!(again.sub, at.sub, "user found by (issuer, sub)");
        assert_eq!(count(&db.url, "as_users").await, 1, "{}", db.label);
        assert_eq!(count(&db.url, "oauth_refresh_tokens").await, 0);

        // Two concurrent redemptions of one fresh assertion: exactly one wins.
        let raced = f.id_jag(&f.claims());
        let (a, b) = tokio::join!(f.redeem(&raced), f.redeem(&raced));
        let mut statuses = [a.0, b.0];
        statuses.sort();
        assert_eq!(statuses, [200, 400], "{}: {} / {}", db.label, a.1, b.1);

        // Client secret in Basic works the same.
        let basic = f.id_jag(&f.claims());
        let (status, body) = TestBroker::send(
            f.broker
                .http
                .post(format!("{}/as/token", f.broker.url))
                .basic_auth(&f.client_id, Some(&f.client_secret))
                .form(&[("grant_type", GRANT_JWT_BEARER), ("assertion", &basic)]),
        )
        .await;
        // The client registered client_secret_post: Basic is another method, refused.
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client"))
        );

        // Audited with the grant type, never the assertion.
        let (status, records) = TestBroker::send(f.broker.admin(
            reqwest::Method::GET,
            &format!("/admin/v1/audit?workspace_id={WS}"),
        ))
        .await;
        assert_eq!(status, 200, "{records}");
        let text = records.to_string();
        assert!(
            text.contains("oauth.token") && text.contains(&format!("grant={GRANT_JWT_BEARER}")),
            "{text}"
        );
        assert!(!text.contains(&assertion) && !text.contains(&second));
    }
}

#[tokio::test]
async fn bad_assertions_get_typed_errors_and_write_nothing() {
    for db in all_dbs().await {
        let f = fixture(&db.url).await;
        // Trusted for On-Behalf-Of but not for ID-JAGs.
        let obo_only = OAuthServer::start(OAuthServerOptions::default()).await;
        add_idp(&f.broker, &obo_only, false).await;
        // (Every testkit server signs with the same test key: the bad-signature case below
        // tampers with a signature instead.)
        let stranger = OAuthServer::start(OAuthServerOptions::default()).await;
        // Every refused case below reuses this `jti`; the valid redemption at the end proves
        // none of them spent it.
        let base = f.claims();
        let with = |key: &str, value: Value| {
            let mut c = base.clone();
            c[key] = value;
            c
        };
        // One signature character changed well before the end (the last one may carry only
        // padding bits).
        let mut bad_signature = f.id_jag(&base).into_bytes();
        let at = bad_signature.len() - 20;
        bad_signature[at] = if bad_signature[at] == b'A' {
            b'B'
        } else {
            b'A'
        };
        let bad_signature = String::from_utf8(bad_signature).unwrap();
        let cases: Vec<(&str, String, u16, &str)> = vec![
            (
                "wrong aud",
                f.id_jag(&with("aud", json!("https://other-as.example"))),
                400,
                "invalid_grant",
            ),
            (
                "wrong typ",
                f.idp.mint_jwt_typed("JWT", &base),
                400,
                "invalid_grant",
            ),
            (
                "expired",
                f.id_jag(&with("exp", json!(now() - 120))),
                400,
                "invalid_grant",
            ),
            (
                "issuer trusted for OBO only",
                obo_only.mint_jwt_typed(ID_JAG_TYP, &with("iss", json!(obo_only.issuer()))),
                400,
                "invalid_grant",
            ),
            (
                "untrusted issuer",
                stranger.mint_jwt_typed(ID_JAG_TYP, &with("iss", json!(stranger.issuer()))),
                400,
                "invalid_grant",
            ),
            (
                "unknown resource",
                f.id_jag(&with("resource", json!("http://127.0.0.1:9/other"))),
                400,
                "invalid_target",
            ),
            (
                "client_id of another client",
                f.id_jag(&with("client_id", json!("ocl_0000000000000000"))),
                400,
                "invalid_grant",
            ),
            ("bad signature", bad_signature, 400, "invalid_grant"),
            (
                "lifetime over 10 minutes",
                f.id_jag(&with("exp", json!(now() + 3600))),
                400,
                "invalid_grant",
            ),
            (
                "no scope in common",
                f.id_jag(&with("scope", json!("admin"))),
                400,
                "invalid_scope",
            ),
        ];
        for (label, assertion, status, code) in &cases {
            let answer = f.redeem(assertion).await;
            assert_error(
                &format!("{}: {label}", db.label),
                &answer,
                *status,
                code,
                assertion,
            );
        }
        let valid = f.id_jag(&base);
        let other_resource = f
            .redeem_with(&valid, &[("resource", "http://127.0.0.1:9/elsewhere")])
            .await;
        assert_error(
            "resource param differs",
            &other_resource,
            400,
            "invalid_target",
            &valid,
        );
        for table in ["as_users", "oauth_token_families", "oauth_assertion_jtis"] {
            assert_eq!(count(&db.url, table).await, 0, "{}: {table}", db.label);
        }

        // A public client cannot use the grant; nor register for it.
        let (status, public) = register(
            &f.broker,
            json!({"client_name": "Public", "redirect_uris": ["http://127.0.0.1:4000/cb"],
                   "token_endpoint_auth_method": "none"}),
        )
        .await;
        assert_eq!(status, 201, "{public}");
        let public_id = public["client_id"].as_str().unwrap();
        let answer = token(
            &f.broker,
            &[
                ("grant_type", GRANT_JWT_BEARER),
                ("assertion", &valid),
                ("client_id", public_id),
            ],
        )
        .await;
        assert_error("public client", &answer, 401, "invalid_client", &valid);
        let (status, refused) = register(
            &f.broker,
            json!({"client_name": "Public", "grant_types": [GRANT_JWT_BEARER],
                   "token_endpoint_auth_method": "none"}),
        )
        .await;
        assert_eq!(
            (status, refused["error"].as_str()),
            (400, Some("invalid_client_metadata")),
            "{refused}"
        );
        // A wrong secret is invalid_client too.
        let answer = token(
            &f.broker,
            &[
                ("grant_type", GRANT_JWT_BEARER),
                ("assertion", &valid),
                ("client_id", &f.client_id),
                ("client_secret", "wrong"),
            ],
        )
        .await;
        assert_error("wrong secret", &answer, 401, "invalid_client", &valid);

        // After all that, the valid assertion (same `jti`) is still redeemable once.
        let (status, tokens) = f.redeem(&valid).await;
        assert_eq!(status, 200, "{}: {tokens}", db.label);
        assert_eq!(count(&db.url, "oauth_assertion_jtis").await, 1);
    }
}

#[tokio::test]
async fn a_bound_client_s_id_jag_acts_for_its_agent_only_while_enabled_and_within_its_scopes() {
    for db in all_dbs().await {
        let label = db.label;
        let f = fixture(&db.url).await;
        let agent = create_agent(&f.broker, WS, &["notes:read"]).await;
        let (status, body) = bind(&f.broker, WS, &f.client_id, &agent).await;
        assert_eq!(status, 204, "{label}: {body}");

        // The assertion allows notes:read and notes:write; the agent holds notes:read only.
        let (status, answer) = f.redeem(&f.id_jag(&f.claims())).await;
        assert_eq!(status, 200, "{label}: {answer}");
        assert_eq!(answer["scope"], "notes:read", "{label}");
        let claims = verified_claims(&f.broker, answer["access_token"].as_str().unwrap()).await;
        assert_eq!(claims.act.map(|a| a.sub), Some(agent.clone()), "{label}");
        assert_eq!(claims.scope, "notes:read", "{label}");

        // Disabled: refused, nothing written, the assertion's jti not used up.
        set_agent_disabled(&f.broker, WS, &agent, true).await;
        let jtis = count(&db.url, "oauth_assertion_jtis").await;
        let families = count(&db.url, "oauth_token_families").await;
        let assertion = f.id_jag(&f.claims());
        assert_error(
            label,
            &f.redeem(&assertion).await,
            400,
            "unauthorized_client",
            &assertion,
        );
        assert_eq!(
            count(&db.url, "oauth_assertion_jtis").await,
            jtis,
            "{label}"
        );
        assert_eq!(
            count(&db.url, "oauth_token_families").await,
            families,
            "{label}"
        );
        set_agent_disabled(&f.broker, WS, &agent, false).await;
        let (status, answer) = f.redeem(&assertion).await;
        assert_eq!(
            status, 200,
            "{label}: the same assertion, agent enabled: {answer}"
        );
    }
}
