//! Scenario: agents, sessions, scopes and the audit record of every grant and refusal
//! (registration, session tokens and their JWKS, scope checks, revocation, expiry).

use super::{DECLARED, IdStack, assert_denied, common, detail, jwt_part, wait_for_status};
use serde_json::{Value, json};

pub(super) async fn agents_sessions_scopes_and_audit(stack: &IdStack) {
    let (agent_id, credential) = stack.create_agent("acme", &DECLARED, None).await;
    assert!(credential.starts_with("nxa_") && credential.len() > 40);

    // The credential is shown once: never in a listing or a lookup.
    let listing = stack
        .admin_ok("GET", "/admin/v1/workspaces/acme/agents", None)
        .await;
    let one = stack
        .admin_ok(
            "GET",
            &format!("/admin/v1/workspaces/acme/agents/{agent_id}"),
            None,
        )
        .await;
    for body in [&listing, &one] {
        assert!(
            !body.to_string().contains(&credential),
            "credential leaked: {body}"
        );
    }
    assert_eq!(one["scopes"], json!(DECLARED));
    assert_eq!(one["max_session_ttl_seconds"], 900);

    // Outside the declared scopes: 403, no silent downgrade, audited.
    let (status, body) = stack
        .session(
            &credential,
            json!({"scopes": ["crm:contacts:read", "crm:contacts:write"]}),
        )
        .await;
    common::assert_error(status, &body, 403, "scope_not_allowed");
    let record = stack
        .last_record("acme", "session.created", &agent_id)
        .await;
    assert_denied(&record, "scope_not_allowed");
    assert_eq!(detail(&record)["scopes"], json!(["crm:contacts:write"]));

    // Empty scopes = every declared scope; the TTL is capped at the agent's maximum.
    let (status, session) = stack
        .session(&credential, json!({"ttl_seconds": 100000}))
        .await;
    assert_eq!(status, 201, "{session}");
    assert_eq!(session["scopes"], json!(DECLARED));
    assert_eq!(session["token_type"], "session");
    assert_eq!(session["expires_in"], 900);
    assert_eq!(session["agent_id"], agent_id.as_str());
    assert_eq!(session["sub"], agent_id.as_str());
    assert!(session.get("act").is_none());
    let token = session["session_token"].as_str().expect("token").to_owned();
    let session_id = session["session_id"].as_str().expect("id").to_owned();

    // RFC 9068 shape, signed by a key the gateway publishes.
    let header = jwt_part(&token, 0);
    let claims = jwt_part(&token, 1);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "ES256");
    assert_eq!(claims["iss"], stack.gateway_url.as_str());
    assert_eq!(claims["aud"], "nexus");
    assert_eq!(claims["sub"], agent_id.as_str());
    assert_eq!(claims["client_id"], agent_id.as_str());
    assert_eq!(claims["jti"], session_id.as_str());
    assert_eq!(claims["workspace_id"], "acme");
    assert_eq!(claims["scope"], DECLARED.join(" "));
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );
    let jwks: jsonwebtoken::jwk::JwkSet = stack
        .http
        .get(format!("{}/.well-known/jwks.json", stack.gateway_url))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("JWK set");
    let jwk = jwks
        .find(header["kid"].as_str().expect("kid"))
        .expect("the signing key is published");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&["nexus"]);
    jsonwebtoken::decode::<Value>(
        &token,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).expect("key"),
        &validation,
    )
    .expect("the session token verifies with the published key");
    let record = stack
        .last_record("acme", "session.created", &session_id)
        .await;
    assert_eq!(record["outcome"], "allowed");
    assert_eq!(record["agent_id"], agent_id.as_str());
    let fingerprint = detail(&record)["token_fingerprint"]
        .as_str()
        .expect("fingerprint")
        .to_owned();
    assert_eq!(fingerprint.len(), 64);
    assert!(
        !record.to_string().contains(&token),
        "token in the audit log"
    );

    // Resolve inside the scopes: the provider scope ∩ the connection's, advisory.
    let (status, resolved) = stack.resolve(&token, "acme", "github").await;
    assert_eq!(status, 200, "{resolved}");
    assert_eq!(resolved["scope_enforcement"], "advisory");
    assert_eq!(resolved["scopes"], json!(["read"]));
    let record = stack
        .last_record("acme", "session.resolve", &session_id)
        .await;
    assert_eq!(record["outcome"], "allowed");
    assert_eq!(record["target"], "github");
    assert!(detail(&record)["token_fingerprint"].is_string());

    // Outside the scopes: a provider the session has no scope for.
    let (status, body) = stack.resolve(&token, "acme", "static-api").await;
    common::assert_error(status, &body, 403, "scope_not_allowed");
    assert_denied(
        &stack
            .last_record("acme", "session.resolve", &session_id)
            .await,
        "scope_not_allowed",
    );

    // Cross-workspace: refused and recorded in the session's own workspace.
    let (status, body) = stack.resolve(&token, "globex", "github").await;
    common::assert_error(status, &body, 403, "forbidden");
    assert_denied(
        &stack
            .last_record("acme", "session.resolve", &session_id)
            .await,
        "cross_workspace",
    );
    // A session token is for resolving only, not for the connection lifecycle.
    let (status, body) = stack
        .gateway("GET", "/v1/check-connection/anything", &token, None)
        .await;
    common::assert_error(status, &body, 403, "forbidden");

    // Custom scopes through /v1/authorize, allowed and denied, always audited.
    for scope in ["acme:gliding", "pipeline:trigger"] {
        let (status, answer) = stack
            .gateway(
                "POST",
                "/v1/authorize",
                &token,
                Some(json!({"scope": scope})),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(
            answer,
            json!({"allowed": true, "scope": scope, "session_id": session_id})
        );
        let record = stack
            .last_record("acme", "session.authorize", &session_id)
            .await;
        assert_eq!(record["target"], scope);
        assert_eq!(record["outcome"], "allowed");
    }
    let (status, body) = stack
        .gateway(
            "POST",
            "/v1/authorize",
            &token,
            Some(json!({"scope": "crm:contacts:write"})),
        )
        .await;
    common::assert_error(status, &body, 403, "scope_not_allowed");
    let record = stack
        .last_record("acme", "session.authorize", &session_id)
        .await;
    assert_denied(&record, "scope_not_allowed");
    assert_eq!(record["target"], "crm:contacts:write");

    // A narrower session: custom scopes only, so no provider.
    let (status, narrow) = stack
        .session(
            &credential,
            json!({"scopes": ["acme:gliding"], "ttl_seconds": 60}),
        )
        .await;
    assert_eq!(status, 201, "{narrow}");
    assert_eq!(narrow["expires_in"], 60);
    let narrow_token = narrow["session_token"].as_str().unwrap();
    let (status, body) = stack.resolve(narrow_token, "acme", "github").await;
    common::assert_error(status, &body, 403, "scope_not_allowed");
    let (status, body) = stack
        .gateway(
            "POST",
            "/v1/authorize",
            narrow_token,
            Some(json!({"scope": "pipeline:trigger"})),
        )
        .await;
    common::assert_error(status, &body, 403, "scope_not_allowed");

    // An API key resolves as before: no scope_enforcement.
    let key = stack
        .admin_ok("POST", "/admin/v1/workspaces/acme/api-keys", None)
        .await["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, resolved) = stack.resolve(&key, "acme", "github").await;
    assert_eq!(status, 200, "{resolved}");
    assert!(resolved.get("scope_enforcement").is_none(), "{resolved}");
    assert_eq!(resolved["scopes"], json!(["read", "write"]));

    // Revocation: refused at once, before exp, by status and by resolve.
    let (status, _) = stack
        .gateway(
            "DELETE",
            &format!("/v1/sessions/{session_id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, body) = stack.resolve(&token, "acme", "github").await;
    common::assert_error(status, &body, 401, "unauthorized");
    assert_denied(
        &stack
            .last_record("acme", "session.verify", &session_id)
            .await,
        "session_revoked",
    );
    assert_eq!(
        stack
            .last_record("acme", "session.revoked", &session_id)
            .await["outcome"],
        "allowed"
    );
    let (status, state) = stack
        .gateway(
            "GET",
            &format!("/v1/sessions/{session_id}"),
            &credential,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(state["status"], "revoked");
    let (status, body) = stack
        .gateway(
            "POST",
            "/v1/authorize",
            &token,
            Some(json!({"scope": "acme:gliding"})),
        )
        .await;
    common::assert_error(status, &body, 401, "unauthorized");

    // Another agent cannot see or revoke this agent's sessions.
    let (_, other_credential) = stack.create_agent("acme", &["acme:gliding"], None).await;
    let (status, body) = stack
        .gateway(
            "DELETE",
            &format!("/v1/sessions/{}", narrow["session_id"].as_str().unwrap()),
            &other_credential,
            None,
        )
        .await;
    common::assert_error(status, &body, 404, "not_found");

    // Disabled agent: no new session, and its live sessions stop working.
    stack
        .admin_ok(
            "POST",
            &format!("/admin/v1/workspaces/acme/agents/{agent_id}/disable"),
            None,
        )
        .await;
    let (status, body) = stack.session(&credential, json!({})).await;
    common::assert_error(status, &body, 401, "unauthorized");
    assert_denied(
        &stack
            .last_record("acme", "session.created", &agent_id)
            .await,
        "agent_disabled",
    );
    let (status, body) = stack
        .gateway(
            "POST",
            "/v1/authorize",
            narrow_token,
            Some(json!({"scope": "acme:gliding"})),
        )
        .await;
    common::assert_error(status, &body, 401, "unauthorized");
    assert_denied(
        &stack
            .last_record(
                "acme",
                "session.verify",
                narrow["session_id"].as_str().unwrap(),
            )
            .await,
        "agent_disabled",
    );
    stack
        .admin_ok(
            "POST",
            &format!("/admin/v1/workspaces/acme/agents/{agent_id}/enable"),
            None,
        )
        .await;
    let (status, _) = stack.session(&credential, json!({})).await;
    assert_eq!(status, 201);

    // Rotated credential: the old one stops working at once, the new one works.
    let rotated = stack
        .admin_ok(
            "POST",
            &format!("/admin/v1/workspaces/acme/agents/{agent_id}/rotate-credential"),
            None,
        )
        .await;
    let new_credential = rotated["agent_credential"].as_str().unwrap();
    assert_ne!(new_credential, credential);
    let (status, body) = stack.session(&credential, json!({})).await;
    common::assert_error(status, &body, 401, "unauthorized");
    let (status, _) = stack.session(new_credential, json!({})).await;
    assert_eq!(status, 201);

    // Expiry: a one-second agent; the session is refused once expired.
    let (short_agent, short_credential) = stack
        .create_agent("acme", &["provider:github"], Some(1))
        .await;
    let (status, short) = stack.session(&short_credential, json!({})).await;
    assert_eq!(status, 201, "{short}");
    let short_id = short["session_id"].as_str().unwrap();
    wait_for_status(stack, &short_credential, short_id, "expired").await;
    let (status, body) = stack
        .resolve(short["session_token"].as_str().unwrap(), "acme", "github")
        .await;
    common::assert_error(status, &body, 401, "unauthorized");
    let record = stack.last_record("acme", "session.verify", short_id).await;
    assert_denied(&record, "session_expired");
    assert_eq!(record["agent_id"], short_agent.as_str());

    // Audit queries by agent.
    let by_agent = stack.audit(&format!("agent_id={agent_id}")).await;
    assert!(!by_agent.is_empty());
    assert!(by_agent.iter().all(|r| r["agent_id"] == agent_id.as_str()));

    // The chain holds after all of this.
    let verdict = stack.verify_chain(Some("acme")).await;
    assert_eq!(verdict["ok"], true, "{verdict}");
    assert!(verdict["checked"].as_u64().unwrap() > 20, "{verdict}");
}
