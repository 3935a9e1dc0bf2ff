//! Issue 14 items 3 and 9: the claims of a user token (RFC 7519 / RFC 8693) with tokens signed
//! by the loopback issuer, and the issuer's discovery document fetched once, not per exchange.

use super::{IdStack, now};
use serde_json::{Value, json};

pub(super) async fn user_token_claims_are_enforced(stack: &IdStack) {
    // In `globex`, so the scenario can share a stack with `on_behalf_of` (which uses `acme`).
    let (agent_id, credential) = stack
        .create_agent("globex", &["crm:contacts:read"], None)
        .await;
    let (status, idp) = stack
        .admin(
            "POST",
            "/admin/v1/workspaces/globex/identity-providers",
            Some(json!({"issuer": stack.oauth.issuer(), "audience": "nexus-app"})),
        )
        .await;
    assert_eq!(status, 201, "{idp}");
    let discoveries_before = stack.oauth.stats().discovery_requests;
    let token = |extra: Value| {
        let mut claims = json!({
            "iss": stack.oauth.issuer(), "sub": "alice", "aud": "nexus-app",
            "iat": now(), "exp": now() + 300, "scope": "crm:contacts:read",
        });
        for (k, v) in extra.as_object().expect("an object") {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        stack.oauth.mint_jwt(&claims)
    };
    let exchange = |subject: String| {
        let credential = credential.clone();
        async move {
            stack
                .session(
                    &credential,
                    json!({"on_behalf_of": {"subject_token": subject}}),
                )
                .await
        }
    };

    // Good tokens, within the clock skew too.
    for (what, extra) in [
        ("plain", json!({})),
        ("nbf within the skew", json!({"nbf": now() + 30})),
        ("iat within the skew", json!({"iat": now() + 30})),
    ] {
        let (status, body) = exchange(token(extra)).await;
        assert_eq!(status, 201, "{what}: {body}");
    }

    for (what, extra) in [
        ("no aud", json!({"aud": null})),
        ("not yet valid", json!({"nbf": now() + 600})),
        ("issued in the future", json!({"iat": now() + 600})),
        ("delegated itself", json!({"act": {"sub": "someone-else"}})),
        ("sub is an agent", json!({"sub": agent_id})),
    ] {
        let (status, body) = exchange(token(extra)).await;
        assert_eq!(status, 401, "{what}: {body}");
        assert_eq!(body["error"], "invalid_subject_token", "{what}: {body}");
        let record = stack
            .last_record("globex", "session.created", &agent_id)
            .await;
        assert_eq!(record["outcome"], "denied", "{what}: {record}");
    }

    // Eight exchanges, at most one discovery document fetch (none when an earlier scenario on
    // the same stack already discovered this issuer); without the cache there are eight.
    let fetched = stack.oauth.stats().discovery_requests - discoveries_before;
    assert!(
        fetched <= 1,
        "the discovery document is cached: {fetched} fetches"
    );
}
