//! Scenarios: on-behalf-of token exchange with a trusted user IdP, and scope narrowing of the
//! provider token handed to a narrow session.

use super::{DECLARED, IdStack, assert_denied, common, detail, jwt_part, now};
use nexus_testkit::{OAuthServer, OAuthServerOptions};
use serde_json::{Value, json};

pub(super) async fn on_behalf_of(stack: &IdStack) {
    let (agent_id, credential) = stack.create_agent("acme", &DECLARED, None).await;
    // Trusted issuer without jwks_url: keys by OIDC discovery.
    let (status, idp) = stack
        .admin(
            "POST",
            "/admin/v1/workspaces/acme/identity-providers",
            Some(json!({"issuer": stack.oauth.issuer(), "audience": "nexus-app"})),
        )
        .await;
    assert_eq!(status, 201, "{idp}");
    let user_token = |sub: &str, scope: &str, exp: i64| {
        stack.oauth.mint_jwt(&json!({
            "iss": stack.oauth.issuer(), "sub": sub, "aud": "nexus-app",
            "iat": now(), "exp": exp, "scope": scope,
        }))
    };
    let alice = user_token(
        "alice",
        "crm:contacts:read provider:github:read",
        now() + 300,
    );

    // RFC 8693 exchange with the agent credential as the actor.
    let (status, exchanged) = stack
        .exchange(&[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", &alice),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
            ("actor_token", &credential),
            (
                "actor_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            ),
            ("scope", "crm:contacts:read"),
        ])
        .await;
    assert_eq!(status, 200, "{exchanged}");
    assert_eq!(
        exchanged["issued_token_type"],
        "urn:ietf:params:oauth:token-type:jwt"
    );
    assert_eq!(exchanged["token_type"], "Bearer");
    assert_eq!(exchanged["scope"], "crm:contacts:read");
    let obo_token = exchanged["access_token"].as_str().unwrap();
    let claims = jwt_part(obo_token, 1);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["act"], json!({"sub": agent_id}));
    assert_eq!(claims["client_id"], agent_id.as_str());
    let obo_id = exchanged["session_id"].as_str().unwrap();
    let record = stack
        .last_record("acme", "session.token_exchange", obo_id)
        .await;
    assert_eq!(record["outcome"], "allowed");
    assert_eq!(record["user"], "alice");
    assert_eq!(
        detail(&record)["user_scopes"],
        json!(["crm:contacts:read", "provider:github:read"])
    );

    // The same through /v1/sessions, all scopes the agent and the user share.
    let (status, session) = stack
        .session(
            &credential,
            json!({"on_behalf_of": {"subject_token": alice}}),
        )
        .await;
    assert_eq!(status, 201, "{session}");
    assert_eq!(session["sub"], "alice");
    assert_eq!(session["act"], json!({"sub": agent_id}));
    assert_eq!(
        session["scopes"],
        json!(["crm:contacts:read", "provider:github:read"])
    );
    let obo_session = session["session_token"].as_str().unwrap();
    let (status, resolved) = stack.resolve(obo_session, "acme", "github").await;
    assert_eq!(status, 200, "{resolved}");
    let record = stack
        .last_record(
            "acme",
            "session.resolve",
            session["session_id"].as_str().unwrap(),
        )
        .await;
    assert_eq!(record["user"], "alice");

    // The agent may, the user may not.
    let (status, body) = stack
        .session(
            &credential,
            json!({"scopes": ["acme:gliding"], "on_behalf_of": {"subject_token": alice}}),
        )
        .await;
    common::assert_error(status, &body, 403, "user_not_authorized_for_scope");
    let record = stack
        .last_record("acme", "session.created", &agent_id)
        .await;
    assert_denied(&record, "user_not_authorized_for_scope");
    assert_eq!(record["user"], "alice");
    let (status, body) = stack
        .gateway(
            "POST",
            "/v1/authorize",
            obo_session,
            Some(json!({"scope": "acme:gliding"})),
        )
        .await;
    common::assert_error(status, &body, 403, "user_not_authorized_for_scope");
    assert_denied(
        &stack
            .last_record(
                "acme",
                "session.authorize",
                session["session_id"].as_str().unwrap(),
            )
            .await,
        "user_not_authorized_for_scope",
    );

    // Bad user tokens: forged signature, expired, untrusted issuer, wrong audience.
    let mut forged = alice.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let expired = user_token("alice", "crm:contacts:read", now() - 10);
    let stranger = OAuthServer::start(OAuthServerOptions::default()).await;
    let untrusted = stranger.mint_jwt(&json!({"iss": stranger.issuer(), "sub": "mallory",
        "aud": "nexus-app", "exp": now() + 300, "scope": "crm:contacts:read"}));
    let wrong_aud = stack
        .oauth
        .mint_jwt(&json!({"iss": stack.oauth.issuer(), "sub": "alice",
        "aud": "someone-else", "exp": now() + 300, "scope": "crm:contacts:read"}));
    for (what, bad) in [
        ("forged", forged.as_str()),
        ("expired", expired.as_str()),
        ("untrusted", untrusted.as_str()),
        ("wrong audience", wrong_aud.as_str()),
        ("not a JWT", "not-a-jwt"),
    ] {
        let (status, body) = stack
            .session(&credential, json!({"on_behalf_of": {"subject_token": bad}}))
            .await;
        assert_eq!(status, 401, "{what}: {body}");
        assert_eq!(body["error"], "invalid_subject_token", "{what}: {body}");
        let record = stack
            .last_record("acme", "session.created", &agent_id)
            .await;
        assert_eq!(record["outcome"], "denied", "{what}");
        assert!(
            detail(&record)["reason"]
                .as_str()
                .unwrap()
                .starts_with("invalid_subject_token"),
            "{what}: {record}"
        );
        let (status, body) = stack
            .exchange(&[
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ),
                ("subject_token", bad),
                (
                    "subject_token_type",
                    "urn:ietf:params:oauth:token-type:id_token",
                ),
                ("actor_token", &credential),
            ])
            .await;
        assert_eq!(status, 401, "{what}: {body}");
        assert_eq!(body["error"], "invalid_subject_token");
    }

    // Malformed exchanges are 400s.
    let (status, body) = stack
        .exchange(&[("grant_type", "client_credentials")])
        .await;
    common::assert_error(status, &body, 400, "invalid_request");

    // A trusted issuer removed: its tokens stop working.
    stack
        .admin_ok(
            "DELETE",
            &format!(
                "/admin/v1/workspaces/acme/identity-providers/{}",
                idp["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    let (status, body) = stack
        .session(
            &credential,
            json!({"on_behalf_of": {"subject_token": alice}}),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_subject_token"))
    );

    // Queryable by user.
    let by_user = stack.audit("user=alice").await;
    assert!(by_user.len() >= 4, "{by_user:?}");
    assert!(by_user.iter().all(|r| r["user"] == "alice"));
    assert_eq!(stack.verify_chain(None).await["ok"], true);
}

/// A provider that honours `scope` on refresh: the token handed to a narrow session carries
/// only the intersected scopes (asked of the provider itself), cached per scope set.
pub(super) async fn scope_narrowing(stack: &IdStack) {
    let (_, credential) = stack
        .create_agent(
            "acme",
            &[
                "provider:github:read",
                "provider:github:write",
                "provider:github:admin",
                "provider:github",
            ],
            None,
        )
        .await;
    let credential = credential.as_str();
    let session = |scopes: Value| async move {
        let (status, s) = stack.session(credential, json!({ "scopes": scopes })).await;
        assert_eq!(status, 201, "{s}");
        s["session_token"].as_str().unwrap().to_owned()
    };
    let read_only = session(json!(["provider:github:read"])).await;
    let read_admin = session(json!(["provider:github:read", "provider:github:admin"])).await;
    let write_only = session(json!(["provider:github:write"])).await;
    let whole = session(json!(["provider:github"])).await;
    let admin_only = session(json!(["provider:github:admin"])).await;

    // Without the provider flag: advisory, the connection's own token.
    let (status, advisory) = stack.resolve(&read_only, "acme", "github").await;
    assert_eq!(status, 200, "{advisory}");
    assert_eq!(advisory["scope_enforcement"], "advisory");
    assert_eq!(advisory["scopes"], json!(["read"]));
    let full_token = advisory["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        stack.oauth.introspect(&full_token).scope.as_deref(),
        Some("read write")
    );

    // Declare narrowing support on the provider.
    let github = json!({
        "name": "github", "auth_type": "oauth2",
        "client_id": stack.oauth.client_id(), "client_secret": stack.oauth.client_secret(),
        "auth_url": stack.oauth.authorize_url(), "token_url": stack.oauth.token_url(),
        "scopes": ["read"], "api_base_url": "https://api.github.invalid",
        "supports_scope_narrowing": true
    });
    stack
        .admin_ok("POST", "/admin/v1/providers", Some(github))
        .await;

    let refreshes_before = stack.oauth.stats().refresh_token_requests;
    let (status, narrowed) = stack.resolve(&read_only, "acme", "github").await;
    assert_eq!(status, 200, "{narrowed}");
    assert_eq!(narrowed["scope_enforcement"], "token");
    assert_eq!(narrowed["scopes"], json!(["read"]));
    let read_token = narrowed["access_token"].as_str().unwrap().to_owned();
    assert_ne!(read_token, full_token);
    assert_eq!(narrowed["credentials"]["access_token"], read_token.as_str());
    let seen = stack.oauth.introspect(&read_token);
    assert!(seen.active);
    assert_eq!(seen.scope.as_deref(), Some("read"), "the provider says");
    assert_eq!(
        stack.oauth.stats().refresh_token_requests,
        refreshes_before + 1
    );

    // Same scope set, even from another session: the cached token, no new refresh. A scope
    // the connection lacks (`admin`) drops out of the intersection.
    let (_, again) = stack.resolve(&read_admin, "acme", "github").await;
    assert_eq!(again["access_token"], read_token.as_str());
    assert_eq!(again["scopes"], json!(["read"]));
    assert_eq!(
        stack.oauth.stats().refresh_token_requests,
        refreshes_before + 1
    );

    // Another scope set: its own token.
    let (_, write) = stack.resolve(&write_only, "acme", "github").await;
    let write_token = write["access_token"].as_str().unwrap();
    assert_ne!(write_token, read_token);
    assert_eq!(
        stack.oauth.introspect(write_token).scope.as_deref(),
        Some("write")
    );
    let record = stack
        .audit("workspace_id=acme")
        .await
        .into_iter()
        .find(|r| r["action"] == "session.resolve")
        .unwrap();
    assert_eq!(detail(&record)["reason"], "token");

    // Every scope of the provider: the connection's token is already exact.
    let (_, all) = stack.resolve(&whole, "acme", "github").await;
    assert_eq!(all["scope_enforcement"], "token");
    assert_eq!(all["scopes"], json!(["read", "write"]));

    // Nothing in common with the connection: refused.
    let (status, body) = stack.resolve(&admin_only, "acme", "github").await;
    common::assert_error(status, &body, 403, "scope_not_allowed");

    // The connection itself still works for API keys, with its full scopes.
    let key = stack
        .admin_ok("POST", "/admin/v1/workspaces/acme/api-keys", None)
        .await["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, resolved) = stack.resolve(&key, "acme", "github").await;
    assert_eq!(status, 200, "{resolved}");
    assert_eq!(resolved["scopes"], json!(["read", "write"]));
    let api_token = resolved["access_token"].as_str().unwrap();
    assert_eq!(
        stack.oauth.introspect(api_token).scope.as_deref(),
        Some("read write")
    );
    assert!(stack.oauth.introspect(api_token).active);
}
