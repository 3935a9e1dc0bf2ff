//! Proxy mode injects every strategy with the core's engine (issue 16): the recording upstream
//! checks what arrived — header, query parameter, basic auth, an HMAC of the exact body, an AWS
//! SigV4 signature recomputed here from the specification — plus the 401 rule (one forced
//! refresh, one retry, never for a body that cannot be replayed), the signing buffer limit, and
//! one audit record per call.

mod common;
mod proxy_kit;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use nexus_testkit::Reply;
use proxy_kit::{ProxyStack, WS};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::Duration;

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let inner: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
    let outer: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
    let inner_hash = Sha256::new()
        .chain_update(&inner)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(&outer)
        .chain_update(inner_hash)
        .finalize()
        .to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn header_query_basic_and_hmac_strategies_reach_the_upstream() {
    let p = ProxyStack::start().await;
    p.static_provider(
        "q",
        json!({"type": "query_param", "config": {"param_name": "key"}}),
        Value::Null,
        json!({"api_key": "sk_query"}),
    )
    .await;
    p.static_provider(
        "basic",
        json!({"type": "basic_auth"}),
        Value::Null,
        json!({"username": "user", "password": "pw"}),
    )
    .await;
    p.static_provider(
        "signed",
        json!({"type": "hmac_payload", "config": {"header_name": "X-Signature"}}),
        json!({"max_buffered_body": "1KiB"}),
        json!({"secret": "whsec"}),
    )
    .await;

    let q = p
        .request(reqwest::Method::GET, "q", "/search?term=a&key=caller")
        .send()
        .await
        .unwrap();
    assert_eq!(q.status(), 200);
    let basic = p
        .request(reqwest::Method::GET, "basic", "/me")
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 200);
    let body = b"{\"event\":\"x\"}".to_vec();
    let signed = p
        .request(reqwest::Method::POST, "signed", "/hooks")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 200);

    let seen = p.upstream.requests();
    assert_eq!(
        seen[0].target, "/base/search?term=a&key=sk_query",
        "the caller's copy is replaced"
    );
    assert_eq!(
        seen[1].header("authorization"),
        Some(format!("Basic {}", BASE64.encode("user:pw")).as_str())
    );
    assert_eq!(seen[2].body, body);
    assert_eq!(
        seen[2].header("x-signature"),
        Some(hex(&hmac_sha256(b"whsec", &body)).as_str())
    );

    // A signing strategy reads the whole body: past its buffer limit, 413 and nothing sent.
    let big = p
        .request(reqwest::Method::POST, "signed", "/hooks")
        .body(vec![b'x'; 2048])
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), 413);
    assert_eq!(big.headers()["nexus-error"], "payload_too_large");
    assert_eq!(p.upstream.count(), 3);
}

/// SigV4 recomputed from the specification (S3 form: path as sent, payload hash header).
fn verify_sigv4(request: &nexus_testkit::RawRequest, secret: &str, region: &str, service: &str) {
    let auth = request.header("authorization").expect("Authorization");
    let rest = auth.strip_prefix("AWS4-HMAC-SHA256 ").expect("algorithm");
    let field = |name: &str| {
        rest.split(", ")
            .find_map(|part| part.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} in {auth}"))
            .to_owned()
    };
    let credential = field("Credential");
    let signed_headers = field("SignedHeaders");
    let signature = field("Signature");
    let scope: Vec<&str> = credential.splitn(2, '/').collect();
    let date = &scope[1][..8];
    let amz_date = request.header("x-amz-date").expect("x-amz-date");
    let (path, query) = request
        .target
        .split_once('?')
        .unwrap_or((&request.target, ""));
    let mut pairs: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    pairs.sort();
    let canonical_headers: String = signed_headers
        .split(';')
        .map(|name| {
            let value = request
                .header(name)
                .unwrap_or_else(|| panic!("signed header {name}"));
            format!("{name}:{}\n", value.trim())
        })
        .collect();
    let payload = hex(&Sha256::digest(&request.body));
    assert_eq!(
        request.header("x-amz-content-sha256"),
        Some(payload.as_str())
    );
    let canonical = format!(
        "{}\n{path}\n{}\n{canonical_headers}\n{signed_headers}\n{payload}",
        request.method,
        pairs.join("&")
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{date}/{region}/{service}/aws4_request\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let mut key = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    for part in [region, service, "aws4_request"] {
        key = hmac_sha256(&key, part.as_bytes());
    }
    assert_eq!(
        signature,
        hex(&hmac_sha256(&key, string_to_sign.as_bytes()))
    );
    assert!(signed_headers.split(';').any(|h| h == "host"));
    assert!(scope[0] == "AKIDEXAMPLE");
}

#[tokio::test]
async fn aws_sigv4_is_signed_over_the_upstream_host_and_the_exact_body() {
    let p = ProxyStack::start().await;
    p.static_provider(
        "s3",
        json!({"type": "aws_sigv4", "config": {"region": "eu-west-1", "service": "s3"}}),
        Value::Null,
        json!({"access_key": "AKIDEXAMPLE", "secret_key": "wJalrXUtnFEMI"}),
    )
    .await;
    let response = p
        .request(reqwest::Method::PUT, "s3", "/bucket/object.txt?acl=private")
        .header("Content-Type", "text/plain")
        .body("object body")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = &p.upstream.requests()[0];
    assert_eq!(seen.body, b"object body");
    assert_eq!(seen.header("host"), Some(p.upstream.authority()));
    verify_sigv4(seen, "wJalrXUtnFEMI", "eu-west-1", "s3");
}

/// An OAuth provider `crm` at the test broker's fake authorization server, API at the upstream.
async fn oauth_provider(p: &ProxyStack) {
    let oauth = &p.stack.broker.oauth;
    let provider = json!({
        "name": "crm", "auth_type": "oauth2",
        "client_id": oauth.client_id(), "client_secret": oauth.client_secret(),
        "auth_url": oauth.authorize_url(), "token_url": oauth.token_url(),
        "scopes": ["read"], "api_base_url": format!("{}/v2", p.upstream.url)
    });
    p.add_provider(provider).await;
    let (_, refresh) = oauth.issue_tokens_directly(["read"]);
    let body = json!({"provider_name": "crm", "kind": "refresh_token", "secret": refresh});
    p.import_connection(body).await;
}

#[tokio::test]
async fn an_upstream_401_refreshes_once_and_retries_only_a_replayable_body() {
    let p = ProxyStack::start().await;
    oauth_provider(&p).await;
    let refreshes = || p.stack.broker.oauth.stats().refresh_token_requests;
    p.upstream.script([Reply::status(401)]);
    let response = p
        .request(reqwest::Method::GET, "crm", "/contacts")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "retried with a fresh token");
    let seen = p.upstream.requests();
    assert_eq!(seen.len(), 2, "exactly one retry");
    let first = seen[0].header("authorization").unwrap().to_owned();
    let second = seen[1].header("authorization").unwrap().to_owned();
    assert!(first.starts_with("Bearer ") && second.starts_with("Bearer "));
    assert_ne!(first, second, "the retry carries the refreshed token");
    assert_eq!(refreshes(), 2, "the first resolve and one forced refresh");

    // A streamed body cannot be sent twice: the 401 is returned, the token still replaced.
    p.upstream.script([Reply::status(401)]);
    let stream = futures::stream::iter([Ok::<_, std::io::Error>(vec![b'z'; 100_000])]);
    let refused = p
        .request(reqwest::Method::POST, "crm", "/contacts")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert!(
        refused.headers().get("nexus-error").is_none(),
        "the upstream's answer"
    );
    assert_eq!(p.upstream.count(), 3, "not retried");
    assert_eq!(refreshes(), 3);
    let next = p
        .request(reqwest::Method::GET, "crm", "/contacts")
        .send()
        .await
        .unwrap();
    assert_eq!(next.status(), 200);
    assert_eq!(refreshes(), 3, "the replaced token is cached");
    // One call was sent again (the streamed one could not be): the metric says so.
    let metrics = p
        .http
        .get(p.stack.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("nexus_gateway_proxy_retries_total{reason=\"unauthorized\"} 1\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn concurrent_401s_share_one_forced_refresh() {
    let p = ProxyStack::start().await;
    oauth_provider(&p).await;
    let warm = p
        .request(reqwest::Method::GET, "crm", "/warm")
        .send()
        .await
        .unwrap();
    assert_eq!(warm.status(), 200);
    let revoked = p.upstream.requests()[0]
        .header("authorization")
        .unwrap()
        .to_owned();
    p.upstream.reject_authorization(&revoked);
    let calls = (0..8).map(|i| {
        p.request(reqwest::Method::GET, "crm", &format!("/contacts/{i}"))
            .send()
    });
    for response in futures::future::join_all(calls).await {
        assert_eq!(response.unwrap().status(), 200, "each call recovered");
    }
    assert_eq!(
        p.stack.broker.oauth.stats().refresh_token_requests,
        2,
        "the first resolve and exactly one forced refresh for all eight rejections"
    );
    let fresh: Vec<_> = p
        .upstream
        .requests()
        .into_iter()
        .filter(|r| r.header("authorization") != Some(revoked.as_str()))
        .collect();
    assert_eq!(fresh.len(), 8, "each call ended with the new token once");
}

#[tokio::test]
async fn every_proxied_call_leaves_one_audit_record_without_query_or_secret() {
    let p = ProxyStack::start().await;
    p.header_provider(Value::Null).await;
    let response = p
        .request(
            reqwest::Method::GET,
            "up",
            "/items/123456/notes?token=hidden-query",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "ok");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let record = loop {
        let records = p.stack.broker.audit(WS).await;
        if let Some(r) = records.iter().find(|r| r["action"] == "proxy.request") {
            break r.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no proxy.request record"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(record["target"], "up");
    assert_eq!(record["outcome"], "ok");
    let text = record.to_string();
    assert!(text.contains("/items/{id}/notes"), "{text}");
    assert!(
        text.contains("\"status\\\":200") || text.contains("\"status\":200"),
        "{text}"
    );
    assert!(
        !text.contains("hidden-query") && !text.contains("sk_upstream"),
        "{text}"
    );
    let records = p.stack.broker.audit(WS).await;
    let proxied = records
        .iter()
        .filter(|r| r["action"] == "proxy.request")
        .count();
    assert_eq!(proxied, 1);
}
