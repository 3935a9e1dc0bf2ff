//! The resource-server kit against a real JWKS endpoint on loopback: tokens signed with real
//! P-256 keys, key rotation, the refetch rate limit, stale keys when the endpoint fails, and
//! every claim check with its typed reason and its challenge.
#![cfg(feature = "resource-server")]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use nexus_sdk::resource_server::{
    Decision, InvalidToken, Operation, Rejection, ResourceServer, ResourceServerConfig,
};
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const RESOURCE: &str = "http://127.0.0.1:9/mcp";

struct TestKey {
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
}

fn new_key(kid: &str) -> TestKey {
    let der = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der.as_ref()).unwrap();
    let point = pair.public_key().as_ref(); // 0x04 || x || y
    TestKey {
        kid: kid.into(),
        encoding: EncodingKey::from_ec_der(der.as_ref()),
        jwk: json!({
            "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        }),
    }
}

/// The JWKS endpoint: serves whatever `keys` holds, or 500 while `failing`.
#[derive(Clone, Default)]
struct Jwks {
    keys: Arc<Mutex<Vec<Value>>>,
    failing: Arc<Mutex<bool>>,
    hits: Arc<AtomicU64>,
}

async fn serve_jwks(State(jwks): State<Jwks>) -> (StatusCode, HeaderMap, String) {
    jwks.hits.fetch_add(1, Ordering::SeqCst);
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CACHE_CONTROL,
        "public, max-age=300".parse().unwrap(),
    );
    if *jwks.failing.lock() {
        return (StatusCode::INTERNAL_SERVER_ERROR, headers, String::new());
    }
    let body = json!({ "keys": *jwks.keys.lock() }).to_string();
    (StatusCode::OK, headers, body)
}

struct Fixture {
    issuer: String,
    jwks: Jwks,
    server: ResourceServer,
}

async fn fixture(keys: &[&TestKey]) -> Fixture {
    let jwks = Jwks::default();
    *jwks.keys.lock() = keys.iter().map(|k| k.jwk.clone()).collect();
    let app = axum::Router::new()
        .route("/as/jwks", get(serve_jwks))
        .with_state(jwks.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let server = ResourceServer::new(ResourceServerConfig {
        resource: RESOURCE.into(),
        issuer: issuer.clone(),
        required_scopes: vec!["notes:read".into()],
        tool_scopes: HashMap::from([("write_note".into(), vec!["notes:write".into()])]),
        resource_name: Some("Notes".into()),
        ..Default::default()
    })
    .unwrap();
    Fixture {
        issuer,
        jwks,
        server,
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn claims(issuer: &str) -> Value {
    let now = now();
    json!({
        "iss": issuer, "sub": "usr_0123456789abcdef", "aud": RESOURCE, "client_id": "ocl_1",
        "scope": "notes:read", "exp": now + 600, "iat": now, "nbf": now, "jti": "at_1",
        "sid": "fam_1", "workspace_id": "ws_1", "auth_time": now,
    })
}

fn sign(key: &TestKey, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.typ = Some("at+jwt".into());
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.encoding).unwrap()
}

async fn decide(server: &ResourceServer, token: &str, op: Operation<'_>) -> Decision {
    server
        .authenticate(Some(&format!("Bearer {token}")), op)
        .await
}

fn refused(decision: Decision) -> (Rejection, nexus_sdk::resource_server::Challenge) {
    match decision {
        Decision::Deny {
            rejection,
            challenge,
        } => (rejection, challenge),
        Decision::Allow(user) => panic!("allowed {user:?}"),
    }
}

#[tokio::test]
async fn a_valid_token_yields_its_user() {
    let key = new_key("k1");
    let f = fixture(&[&key]).await;
    let mut c = claims(&f.issuer);
    c["act"] = json!({"sub": "agt_1"});
    let Decision::Allow(user) = decide(&f.server, &sign(&key, &c), Operation::Other).await else {
        panic!("refused")
    };
    assert_eq!(user.subject, "usr_0123456789abcdef");
    assert_eq!(user.workspace_id, "ws_1");
    assert_eq!(user.client_id, "ocl_1");
    assert_eq!(user.scopes, ["notes:read"]);
    assert_eq!(user.actor.as_deref(), Some("agt_1"));
    assert_eq!(user.grant_id.as_deref(), Some("fam_1"));
    assert!(
        !format!("{user:?}").contains(&sign(&key, &c)),
        "Debug hides the token"
    );
    // A second token is checked from the cache.
    decide(&f.server, &sign(&key, &c), Operation::Other).await;
    assert_eq!(f.jwks.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn missing_and_malformed_headers_get_a_401_pointing_to_the_metadata() {
    let f = fixture(&[]).await;
    let (rejection, challenge) = refused(f.server.authenticate(None, Operation::Other).await);
    assert_eq!(rejection, Rejection::MissingToken);
    assert_eq!(challenge.status, 401);
    assert_eq!(
        challenge.www_authenticate,
        r#"Bearer resource_metadata="http://127.0.0.1:9/.well-known/oauth-protected-resource/mcp", scope="notes:read""#
    );
    let (rejection, challenge) = refused(
        f.server
            .authenticate(Some("Basic x"), Operation::Other)
            .await,
    );
    assert_eq!(rejection, Rejection::InvalidToken(InvalidToken::Malformed));
    assert!(
        challenge
            .www_authenticate
            .contains(r#"error="invalid_token""#)
    );
    let (rejection, _) = refused(decide(&f.server, "not-a-jwt", Operation::Other).await);
    assert_eq!(rejection, Rejection::InvalidToken(InvalidToken::NotAJwt));
    assert_eq!(
        f.jwks.hits.load(Ordering::SeqCst),
        0,
        "no fetch for garbage"
    );
}

#[tokio::test]
async fn each_claim_check_has_its_reason() {
    let key = new_key("k1");
    let f = fixture(&[&key]).await;
    let cases: Vec<(&str, Value, InvalidToken)> = vec![
        (
            "other resource",
            json!({"aud": "http://127.0.0.1:9/other"}),
            InvalidToken::WrongAudience,
        ),
        (
            "other issuer",
            json!({"iss": "http://evil.example"}),
            InvalidToken::WrongIssuer,
        ),
        ("expired", json!({"exp": now() - 61}), InvalidToken::Expired),
        (
            "future",
            json!({"nbf": now() + 120, "iat": now() + 120}),
            InvalidToken::NotYetValid,
        ),
        (
            "no workspace",
            json!({"workspace_id": null}),
            InvalidToken::MissingClaim,
        ),
        (
            "no subject",
            json!({"sub": null}),
            InvalidToken::MissingClaim,
        ),
    ];
    for (name, patch, reason) in cases {
        let mut c = claims(&f.issuer);
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        let (rejection, challenge) =
            refused(decide(&f.server, &sign(&key, &c), Operation::Other).await);
        assert_eq!(rejection, Rejection::InvalidToken(reason), "{name}");
        assert_eq!(challenge.status, 401, "{name}");
        assert!(
            challenge.www_authenticate.contains(reason.description()),
            "{name}"
        );
    }
    // Within the leeway: expired 30 s ago still passes; an audience array containing us passes.
    let mut c = claims(&f.issuer);
    c["exp"] = json!(now() - 30);
    c["aud"] = json!(["http://other", RESOURCE]);
    assert!(matches!(
        decide(&f.server, &sign(&key, &c), Operation::Other).await,
        Decision::Allow(_)
    ));
}

#[tokio::test]
async fn header_type_algorithm_and_signature_are_checked() {
    let key = new_key("k1");
    let impostor = new_key("k1");
    let f = fixture(&[&key]).await;
    let c = claims(&f.issuer);
    let mut plain = Header::new(Algorithm::ES256);
    plain.kid = Some("k1".into());
    let untyped = jsonwebtoken::encode(&plain, &c, &key.encoding).unwrap();
    let (rejection, _) = refused(decide(&f.server, &untyped, Operation::Other).await);
    assert_eq!(rejection, Rejection::InvalidToken(InvalidToken::WrongType));
    let mut hs = Header::new(Algorithm::HS256);
    hs.typ = Some("at+jwt".into());
    hs.kid = Some("k1".into());
    let symmetric = jsonwebtoken::encode(&hs, &c, &EncodingKey::from_secret(b"k")).unwrap();
    let (rejection, _) = refused(decide(&f.server, &symmetric, Operation::Other).await);
    assert_eq!(
        rejection,
        Rejection::InvalidToken(InvalidToken::UnsupportedAlgorithm)
    );
    let (rejection, _) = refused(decide(&f.server, &sign(&impostor, &c), Operation::Other).await);
    assert_eq!(
        rejection,
        Rejection::InvalidToken(InvalidToken::BadSignature)
    );
}

#[tokio::test]
async fn a_tool_needing_more_scope_gets_a_403_naming_every_needed_scope() {
    let key = new_key("k1");
    let f = fixture(&[&key]).await;
    let token = sign(&key, &claims(&f.issuer));
    assert!(matches!(
        decide(&f.server, &token, Operation::ToolCall("read_note")).await,
        Decision::Allow(_)
    ));
    let (rejection, challenge) =
        refused(decide(&f.server, &token, Operation::ToolCall("write_note")).await);
    assert_eq!(
        rejection,
        Rejection::InsufficientScope {
            required: vec!["notes:read".into(), "notes:write".into()]
        }
    );
    assert_eq!(challenge.status, 403);
    assert!(challenge.www_authenticate.starts_with(
        r#"Bearer error="insufficient_scope", scope="notes:read notes:write", resource_metadata=""#
    ));
    let mut wider = claims(&f.issuer);
    wider["scope"] = json!("notes:read notes:write");
    assert!(matches!(
        decide(
            &f.server,
            &sign(&key, &wider),
            Operation::ToolCall("write_note")
        )
        .await,
        Decision::Allow(_)
    ));
}

#[tokio::test]
async fn a_rotated_key_is_fetched_once_and_unknown_kids_are_rate_limited() {
    let old = new_key("old");
    let new = new_key("new");
    let f = fixture(&[&old]).await;
    let c = claims(&f.issuer);
    assert!(matches!(
        decide(&f.server, &sign(&old, &c), Operation::Other).await,
        Decision::Allow(_)
    ));
    // Rotation: the authorization server publishes the new key; the first token with it refetches.
    f.jwks.keys.lock().push(new.jwk.clone());
    assert!(matches!(
        decide(&f.server, &sign(&new, &c), Operation::Other).await,
        Decision::Allow(_)
    ));
    assert_eq!(f.jwks.hits.load(Ordering::SeqCst), 2);
    // Forged kids: refused, and the refetch they would cause is rate-limited (none within 30 s).
    for i in 0..20 {
        let forged = new_key(&format!("forged{i}"));
        let (rejection, _) = refused(decide(&f.server, &sign(&forged, &c), Operation::Other).await);
        assert_eq!(rejection, Rejection::InvalidToken(InvalidToken::UnknownKey));
    }
    assert_eq!(f.jwks.hits.load(Ordering::SeqCst), 2);
    assert_eq!(f.server.jwks_fetches(), 2);
}

#[tokio::test]
async fn concurrent_first_requests_share_one_fetch() {
    let key = new_key("k1");
    let f = Arc::new(fixture(&[&key]).await);
    let token = sign(&key, &claims(&f.issuer));
    let calls = (0..16).map(|_| {
        let (f, token) = (f.clone(), token.clone());
        tokio::spawn(async move {
            matches!(
                decide(&f.server, &token, Operation::Other).await,
                Decision::Allow(_)
            )
        })
    });
    for call in futures::future::join_all(calls).await {
        assert!(call.unwrap());
    }
    assert_eq!(f.jwks.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_unreachable_jwks_is_a_503_not_a_401() {
    let key = new_key("k1");
    let f = fixture(&[&key]).await;
    *f.jwks.failing.lock() = true;
    let (rejection, challenge) =
        refused(decide(&f.server, &sign(&key, &claims(&f.issuer)), Operation::Other).await);
    assert_eq!(rejection, Rejection::KeysUnavailable);
    assert_eq!(challenge.status, 503);
    assert!(challenge.www_authenticate.is_empty());
}

#[tokio::test]
async fn metadata_document_and_configuration_errors() {
    let f = fixture(&[]).await;
    assert_eq!(
        f.server.metadata_path(),
        "/.well-known/oauth-protected-resource/mcp"
    );
    let doc = f.server.metadata_document();
    assert_eq!(doc["resource"], RESOURCE);
    assert_eq!(doc["authorization_servers"], json!([f.issuer]));
    assert_eq!(
        doc["scopes_supported"],
        json!(["notes:read", "notes:write"])
    );
    for bad in [
        ResourceServerConfig {
            resource: "ftp://x/mcp".into(),
            issuer: f.issuer.clone(),
            ..Default::default()
        },
        ResourceServerConfig {
            resource: RESOURCE.into(),
            issuer: String::new(),
            ..Default::default()
        },
        ResourceServerConfig {
            resource: RESOURCE.into(),
            issuer: f.issuer.clone(),
            required_scopes: vec!["two words".into()],
            ..Default::default()
        },
    ] {
        let err = ResourceServer::new(bad).unwrap_err();
        assert_eq!(err.code(), "invalid_request");
    }
}
