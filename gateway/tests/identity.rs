//! Agent identity end to end: the real broker (SQLite, and PostgreSQL when
//! `NEXUS_TEST_DATABASE_URL` is set) behind the real gateway on loopback, the testkit OAuth
//! server as the provider *and* as the trusted user IdP. Every refusal is checked for its
//! documented status and for its audit record; the audit chain is tampered with directly in
//! the database and must be reported broken.

mod common;
#[path = "identity/jwt_details.rs"]
mod jwt_details;
#[path = "identity/obo_claims.rs"]
mod obo_claims;
#[path = "identity/sessions_end.rs"]
mod sessions_end;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{INTERNAL_TOKEN, serve_gateway, status_and_json, test_config};
use nexus_broker::BrokerConfig;
use nexus_broker::crypto::{Keyring, MasterKey};
use nexus_testkit::{OAuthServer, OAuthServerOptions};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::net::TcpListener;

const ADMIN_TOKEN: &str = "identity-test-admin-token";
/// The agent every scenario registers.
const DECLARED: [&str; 4] = [
    "crm:contacts:read",
    "provider:github:read",
    "acme:gliding",
    "pipeline:trigger",
];

/// A broker + gateway pair with two workspaces (`acme`, `globex`), the OAuth provider `github`
/// (its connection in `acme` granted `read write`) and a static-key provider `static-api`.
struct IdStack {
    broker_url: String,
    gateway_url: String,
    database_url: String,
    oauth: OAuthServer,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
    _broker: tokio::task::JoinHandle<()>,
}

impl Drop for IdStack {
    fn drop(&mut self) {
        self._broker.abort();
    }
}

impl IdStack {
    async fn start(database_url: Option<String>) -> Self {
        let oauth = OAuthServer::start(OAuthServerOptions::default()).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let database_url = database_url.unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("broker.db").display()
            )
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let broker_url = format!("http://{}", listener.local_addr().expect("addr"));
        let config = BrokerConfig {
            database_url: database_url.clone(),
            keyring: Some(Keyring::single(MasterKey::generate())),
            admin_token: ADMIN_TOKEN.into(),
            internal_token: INTERNAL_TOKEN.into(),
            public_url: broker_url.clone(),
            ..Default::default()
        };
        let broker = nexus_broker::Broker::start(config)
            .await
            .expect("broker starts");
        let router = broker.router();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        let gateway_url = serve_gateway(test_config(&broker_url)).await;
        let stack = Self {
            broker_url,
            gateway_url,
            database_url,
            oauth,
            http: reqwest::Client::new(),
            _dir: dir,
            _broker: task,
        };
        for ws in ["acme", "globex"] {
            stack
                .admin_ok("POST", "/admin/v1/workspaces", Some(json!({"id": ws})))
                .await;
        }
        let github = json!({
            "name": "github", "auth_type": "oauth2",
            "client_id": stack.oauth.client_id(), "client_secret": stack.oauth.client_secret(),
            "auth_url": stack.oauth.authorize_url(), "token_url": stack.oauth.token_url(),
            "scopes": ["read"], "api_base_url": "https://api.github.invalid"
        });
        stack
            .admin_ok("POST", "/admin/v1/providers", Some(github))
            .await;
        let static_api = json!({"name": "static-api", "auth_type": "api_key",
            "strategy": {"type": "header", "config": {"header_name": "X-Api-Key"}}});
        stack
            .admin_ok("POST", "/admin/v1/providers", Some(static_api))
            .await;
        let (_, refresh) = stack.oauth.issue_tokens_directly(["read", "write"]);
        let import = json!({"provider_name": "github", "kind": "refresh_token",
            "secret": refresh, "scopes": ["read", "write"]});
        stack
            .admin_ok(
                "POST",
                "/admin/v1/workspaces/acme/connections/import",
                Some(import),
            )
            .await;
        let import = json!({"provider_name": "static-api", "kind": "api_key", "secret": "sk_x"});
        stack
            .admin_ok(
                "POST",
                "/admin/v1/workspaces/acme/connections/import",
                Some(import),
            )
            .await;
        stack
    }

    async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.broker_url))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("broker reachable");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn admin_ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.admin(method, path, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {value}"
        );
        value
    }

    /// `(agent_id, credential)`.
    async fn create_agent(&self, ws: &str, scopes: &[&str], ttl: Option<u64>) -> (String, String) {
        let mut body = json!({"name": "support-bot", "scopes": scopes});
        if let Some(ttl) = ttl {
            body["max_session_ttl_seconds"] = json!(ttl);
        }
        let (status, created) = self
            .admin(
                "POST",
                &format!("/admin/v1/workspaces/{ws}/agents"),
                Some(body),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        (
            created["agent_id"].as_str().expect("agent_id").to_owned(),
            created["agent_credential"]
                .as_str()
                .expect("credential")
                .to_owned(),
        )
    }

    async fn gateway(
        &self,
        method: &str,
        path: &str,
        bearer: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.gateway_url))
            .bearer_auth(bearer);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("gateway reachable");
        if response.status().as_u16() == 204 {
            return (204, Value::Null);
        }
        status_and_json(response).await
    }

    async fn session(&self, credential: &str, body: Value) -> (u16, Value) {
        self.gateway("POST", "/v1/sessions", credential, Some(body))
            .await
    }

    async fn resolve(&self, bearer: &str, ws: &str, provider: &str) -> (u16, Value) {
        self.gateway(
            "GET",
            &format!("/v1/resolve?workspace_id={ws}&provider_name={provider}"),
            bearer,
            None,
        )
        .await
    }

    async fn exchange(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}/v1/token", self.gateway_url))
            .form(form)
            .send()
            .await
            .expect("gateway reachable");
        status_and_json(response).await
    }

    async fn audit(&self, query: &str) -> Vec<Value> {
        let records = self
            .admin_ok("GET", &format!("/admin/v1/audit?limit=1000&{query}"), None)
            .await;
        records.as_array().cloned().unwrap_or_default()
    }

    /// The newest record of `action` for `session_or_agent` (matched on either id column).
    async fn last_record(&self, ws: &str, action: &str, who: &str) -> Value {
        self.audit(&format!("workspace_id={ws}"))
            .await
            .into_iter()
            .find(|r| r["action"] == action && (r["session_id"] == who || r["agent_id"] == who))
            .unwrap_or_else(|| panic!("no `{action}` audit record for {who}"))
    }

    async fn verify_chain(&self, ws: Option<&str>) -> Value {
        let query = ws.map(|w| format!("?workspace_id={w}")).unwrap_or_default();
        self.admin_ok("GET", &format!("/admin/v1/audit/verify{query}"), None)
            .await
    }

    async fn db(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        sqlx::AnyPool::connect(&self.database_url)
            .await
            .expect("open the broker database")
    }
}

fn detail(record: &Value) -> Value {
    serde_json::from_str(record["detail"].as_str().expect("detail")).expect("detail is JSON")
}

fn assert_denied(record: &Value, reason: &str) {
    assert_eq!(record["outcome"], "denied", "{record}");
    assert_eq!(detail(record)["decision"], "denied", "{record}");
    assert_eq!(detail(record)["reason"], reason, "{record}");
}

fn jwt_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).expect("JWT part");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// Polls until `status` of the session reads `expected` (a deadline, not a fixed sleep).
async fn wait_for_status(stack: &IdStack, credential: &str, session_id: &str, expected: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, status) = stack
            .gateway(
                "GET",
                &format!("/v1/sessions/{session_id}"),
                credential,
                None,
            )
            .await;
        if status["status"] == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "session never became {expected}: {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---- the scenarios (each runs on SQLite and, when configured, on PostgreSQL) ---------------

async fn agents_sessions_scopes_and_audit(stack: &IdStack) {
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

async fn on_behalf_of(stack: &IdStack) {
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
async fn scope_narrowing(stack: &IdStack) {
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

/// Edit a field, delete a middle record, delete the newest record: each is reported.
async fn tampering_is_detected(stack: &IdStack) {
    let (_, credential) = stack.create_agent("globex", &["acme:gliding"], None).await;
    for _ in 0..3 {
        let (status, _) = stack.session(&credential, json!({})).await;
        assert_eq!(status, 201);
    }
    let verdict = stack.verify_chain(Some("globex")).await;
    assert_eq!(verdict["ok"], true, "{verdict}");
    let db = stack.db().await;
    let ids: Vec<i64> = sqlx::query_scalar::<_, i64>(
        "SELECT id FROM audit_events WHERE workspace_id = 'globex' ORDER BY id",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert!(ids.len() >= 5, "{ids:?}");

    // Edit one field of one record.
    let edited = ids[2];
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE audit_events SET outcome = 'denied' WHERE id = {edited}"
    )))
    .execute(&db)
    .await
    .unwrap();
    let verdict = stack.verify_chain(Some("globex")).await;
    assert_eq!(verdict["ok"], false, "{verdict}");
    assert_eq!(verdict["first_broken_id"], edited);
    assert_eq!(stack.verify_chain(None).await["ok"], false);
    // Other workspaces' chains are unaffected.
    assert_eq!(stack.verify_chain(Some("acme")).await["ok"], true);
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE audit_events SET outcome = 'allowed' WHERE id = {edited}"
    )))
    .execute(&db)
    .await
    .unwrap();
    assert_eq!(stack.verify_chain(Some("globex")).await["ok"], true);

    // Delete a record in the middle: the next one no longer links.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DELETE FROM audit_events WHERE id = {}",
        ids[1]
    )))
    .execute(&db)
    .await
    .unwrap();
    let verdict = stack.verify_chain(Some("globex")).await;
    assert_eq!(verdict["ok"], false, "{verdict}");
    assert_eq!(verdict["first_broken_id"], ids[2]);
}

async fn tail_deletion_is_detected(stack: &IdStack) {
    let (_, credential) = stack.create_agent("globex", &["acme:gliding"], None).await;
    let (status, _) = stack.session(&credential, json!({})).await;
    assert_eq!(status, 201);
    assert_eq!(stack.verify_chain(Some("globex")).await["ok"], true);
    let db = stack.db().await;
    let newest: i64 = sqlx::query_scalar::<_, i64>(
        "SELECT MAX(id) FROM audit_events WHERE workspace_id = 'globex'",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DELETE FROM audit_events WHERE id = {newest}"
    )))
    .execute(&db)
    .await
    .unwrap();
    let verdict = stack.verify_chain(Some("globex")).await;
    assert_eq!(verdict["ok"], false, "{verdict}");
    assert_eq!(verdict["first_broken_id"], newest);
}

async fn admin_input_is_validated(stack: &IdStack) {
    for body in [
        json!({"name": "", "scopes": []}),
        json!({"name": "x", "scopes": ["has space"]}),
        json!({"name": "x", "max_session_ttl_seconds": 0}),
        json!({"name": "x", "max_session_ttl_seconds": 86401}),
        json!({"name": "x", "unknown": 1}),
    ] {
        let (status, answer) = stack
            .admin(
                "POST",
                "/admin/v1/workspaces/acme/agents",
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, 400, "{body}: {answer}");
    }
    let (status, _) = stack
        .admin(
            "POST",
            "/admin/v1/workspaces/nowhere/agents",
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = stack
        .admin(
            "POST",
            "/admin/v1/workspaces/acme/agents/agt_0000000000000000/disable",
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = stack
        .admin(
            "POST",
            "/admin/v1/workspaces/acme/identity-providers",
            Some(json!({"issuer": "not a url"})),
        )
        .await;
    assert_eq!(status, 400);
    // NUL bytes never reach the database (a server error on PostgreSQL).
    let (status, _) = stack
        .admin("GET", "/admin/v1/workspaces/acme/agents/agt_%00", None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = stack
        .admin(
            "DELETE",
            "/admin/v1/workspaces/acme/identity-providers/%00",
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = stack
        .admin("GET", "/admin/v1/audit?agent_id=%00", None)
        .await;
    assert_eq!(status, 400);
    let (status, _) = stack.admin("GET", "/admin/v1/audit?user=a%00", None).await;
    assert_eq!(status, 400);
    let (status, _) = stack
        .admin(
            "POST",
            "/admin/v1/workspaces/acme/identity-providers",
            Some(json!({"issuer": "http://idp.example/\u{0}"})),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = stack
        .admin(
            "POST",
            "/admin/v1/workspaces/acme/agents",
            Some(json!({"name": "nul\u{0}name"})),
        )
        .await;
    assert_eq!(status, 400);
    // Unknown credentials and garbage bodies are 4xx, never 5xx.
    let (status, body) = stack.session("nxa_0123456789abcdef_nope", json!({})).await;
    common::assert_error(status, &body, 401, "unauthorized");
    let (status, body) = stack.session("eyJhbGciOiJFUzI1NiJ9.e30.x", json!({})).await;
    common::assert_error(status, &body, 401, "unauthorized");
    let (status, body) = stack
        .resolve("eyJhbGciOiJFUzI1NiJ9.e30.x", "acme", "github")
        .await;
    common::assert_error(status, &body, 401, "unauthorized");
    let (status, body) = stack
        .gateway(
            "POST",
            "/v1/authorize",
            "nxk_not_a_session",
            Some(json!({"scope": "x"})),
        )
        .await;
    common::assert_error(status, &body, 401, "unauthorized");
}

#[tokio::test]
async fn sqlite_agents_sessions_scopes_and_audit() {
    agents_sessions_scopes_and_audit(&IdStack::start(None).await).await;
}

#[tokio::test]
async fn sqlite_on_behalf_of() {
    on_behalf_of(&IdStack::start(None).await).await;
}

#[tokio::test]
async fn sqlite_scope_narrowing() {
    scope_narrowing(&IdStack::start(None).await).await;
}

#[tokio::test]
async fn sqlite_tampering_is_detected() {
    let stack = IdStack::start(None).await;
    tampering_is_detected(&stack).await;
}

#[tokio::test]
async fn sqlite_tail_deletion_is_detected() {
    tail_deletion_is_detected(&IdStack::start(None).await).await;
}

#[tokio::test]
async fn sqlite_admin_input_is_validated() {
    admin_input_is_validated(&IdStack::start(None).await).await;
}

#[tokio::test]
async fn sqlite_sessions_end_with_their_agent() {
    sessions_end::sessions_end_with_their_agent(&IdStack::start(None).await).await;
}

#[tokio::test]
async fn sqlite_user_token_claims_are_enforced() {
    obo_claims::user_token_claims_are_enforced(&IdStack::start(None).await).await;
}

#[tokio::test]
async fn sqlite_high_s_signatures_are_refused() {
    jwt_details::high_s_signatures_are_refused(&IdStack::start(None).await).await;
}

#[tokio::test]
async fn sqlite_issuer_is_the_configured_public_url() {
    jwt_details::issuer_is_the_configured_public_url(&IdStack::start(None).await).await;
}

#[tokio::test]
async fn postgres_identity_end_to_end() {
    let Some(url) = common::broker::fresh_postgres_database().await else {
        return;
    };
    let stack = IdStack::start(Some(url)).await;
    agents_sessions_scopes_and_audit(&stack).await;
    on_behalf_of(&stack).await;
    scope_narrowing(&stack).await;
    admin_input_is_validated(&stack).await;
    // `tampering_is_detected` edits `globex`'s records by position: before the scenarios
    // below add records there.
    tampering_is_detected(&stack).await;
    sessions_end::sessions_end_with_their_agent(&stack).await;
    obo_claims::user_token_claims_are_enforced(&stack).await;
    jwt_details::high_s_signatures_are_refused(&stack).await;
}

#[tokio::test]
async fn postgres_tail_deletion_is_detected() {
    let Some(url) = common::broker::fresh_postgres_database().await else {
        return;
    };
    tail_deletion_is_detected(&IdStack::start(Some(url)).await).await;
}
