//! Proxy scope rules (`proxy.rules`, issue 16) on the real stack: an agent session's call passes
//! only if a rule of a scope it holds allows it (else 403 `insufficient_scope` and no upstream
//! request), `provider:<name>` does not bypass declared rules, rule scopes never hand out the
//! raw token through `/v1/resolve`, API keys are not subject to rules, and a bad pattern is
//! refused when the provider is written.

mod common;
mod proxy_kit;

use proxy_kit::{ProxyStack, WS};
use reqwest::Method;
use serde_json::{Value, json};

fn crm_rules() -> Value {
    json!({"rules": [
        {"scope": "crm:contacts:read", "allow": ["GET,HEAD /contacts/**"]},
        {"scope": "crm:contacts:write", "allow": ["POST /contacts", "PATCH,DELETE /contacts/*"]}
    ]})
}

/// `method tail` under the bearer `token`: the status and the `Nexus-Error` header.
async fn call(p: &ProxyStack, token: &str, method: Method, tail: &str) -> (u16, Option<String>) {
    let response = p
        .http
        .request(method, p.url("up", tail))
        .bearer_auth(token)
        .body("{}")
        .send()
        .await
        .unwrap();
    let marked = response
        .headers()
        .get("nexus-error")
        .map(|v| v.to_str().unwrap().to_owned());
    (response.status().as_u16(), marked)
}

#[tokio::test]
async fn sessions_pass_exactly_what_their_scopes_rules_allow() {
    let p = ProxyStack::start().await;
    p.header_provider(crm_rules()).await;
    let reader = p.session_token(&["crm:contacts:read"]).await;
    let denied = || Some("insufficient_scope".to_owned());

    assert_eq!(
        call(&p, &reader, Method::GET, "/contacts/42").await,
        (200, None)
    );
    assert_eq!(
        call(&p, &reader, Method::GET, "/contacts").await,
        (200, None)
    );
    assert_eq!(
        call(&p, &reader, Method::HEAD, "/contacts/42/notes").await,
        (200, None)
    );
    assert_eq!(p.upstream.count(), 3);
    for (method, tail) in [
        (Method::POST, "/contacts"),
        (Method::DELETE, "/contacts/42"),
        (Method::GET, "/deals/1"),
        (Method::GET, "/"),
        (Method::GET, "/contactsX"),
    ] {
        assert_eq!(
            call(&p, &reader, method.clone(), tail).await,
            (403, denied()),
            "{method} {tail}"
        );
    }
    assert_eq!(
        p.upstream.count(),
        3,
        "a denied call never reaches the upstream"
    );
    let seen = p.upstream.requests();
    assert_eq!(seen[0].header("X-Upstream-Key"), Some("sk_upstream"));

    // Both scopes: the write rule now allows what it declares, and nothing more.
    let writer = p
        .session_token(&["crm:contacts:read", "crm:contacts:write"])
        .await;
    assert_eq!(
        call(&p, &writer, Method::POST, "/contacts").await,
        (200, None)
    );
    assert_eq!(
        call(&p, &writer, Method::PATCH, "/contacts/7").await,
        (200, None)
    );
    assert_eq!(
        call(&p, &writer, Method::PATCH, "/contacts/7/x").await,
        (403, denied())
    );
    assert_eq!(p.upstream.count(), 5);

    // The denial names the scope that would allow it, and is audited.
    let body: Value = p
        .http
        .post(p.url("up", "/contacts"))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["code"], "insufficient_scope");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("crm:contacts:write"),
        "{body}"
    );
    let audit = p.stack.broker.audit(WS).await;
    let proxy_decisions: Vec<&Value> = audit
        .iter()
        .filter(|r| r["action"] == "session.proxy")
        .collect();
    assert!(proxy_decisions.iter().any(|r| r["outcome"] == "denied"));
    assert!(proxy_decisions.iter().any(|r| r["outcome"] == "allowed"));
}

#[tokio::test]
async fn provider_scope_does_not_bypass_rules_and_rule_scopes_never_resolve_the_token() {
    let p = ProxyStack::start().await;
    p.header_provider(crm_rules()).await;
    let broad = p.session_token(&["provider:up"]).await;
    assert_eq!(
        call(&p, &broad, Method::GET, "/contacts/1").await,
        (403, Some("insufficient_scope".to_owned()))
    );
    let reader = p.session_token(&["crm:contacts:read"]).await;
    let resolved = p
        .http
        .get(
            p.stack
                .url(&format!("/v1/resolve?workspace_id={WS}&provider_name=up")),
        )
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(resolved.status(), 403);
    let body: Value = resolved.json().await.unwrap();
    assert_eq!(body["code"], "scope_not_allowed");
    assert_eq!(p.upstream.count(), 0);
}

#[tokio::test]
async fn api_keys_are_workspace_wide_and_providers_without_rules_keep_the_provider_scope() {
    let p = ProxyStack::start().await;
    p.header_provider(crm_rules()).await;
    // An API key is not an agent: rules do not narrow it (documented).
    let response = p
        .request(Method::DELETE, "up", "/deals/9")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // A provider without rules: `provider:<name>` still decides, as for `/v1/resolve`.
    p.static_provider(
        "plain",
        json!({"type": "header", "config": {"header_name": "X-Plain-Key"}}),
        Value::Null,
        json!({"api_key": "sk_plain"}),
    )
    .await;
    let session = p.session_token(&["provider:plain"]).await;
    let response = p
        .http
        .post(p.url("plain", "/anything"))
        .bearer_auth(&session)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(p.upstream.count(), 2);
}

#[tokio::test]
async fn bad_rules_are_refused_when_the_provider_is_written() {
    let p = ProxyStack::start().await;
    for (rules, words) in [
        (
            json!([{"scope": "s", "allow": ["GET /v*"]}]),
            "whole segments",
        ),
        (json!([{"scope": "s", "allow": ["get /x"]}]), "upper-case"),
        (json!([{"scope": "s", "allow": ["GET /a/../b"]}]), "literal"),
        (json!([{"scope": "s", "allow": []}]), "allows nothing"),
        (
            json!([{"scope": "s", "allow": ["GET /"], "hosts": ["elsewhere.example"]}]),
            "allowed_hosts",
        ),
    ] {
        let provider = json!({
            "name": "up", "auth_type": "api_key",
            "strategy": {"type": "header", "config": {"header_name": "X-Upstream-Key"}},
            "api_base_url": format!("{}/base", p.upstream.url),
            "proxy": {"rules": rules},
        });
        let answer = p
            .stack
            .broker
            .admin(Method::POST, "/admin/v1/providers", Some(provider), 400)
            .await;
        assert_eq!(answer["code"], "invalid_request", "{answer}");
        assert!(
            answer["message"]
                .as_str()
                .unwrap_or_default()
                .contains(words),
            "{words}: {answer}"
        );
    }
}
