//! The identity test fixture: `IdStack` (real broker + gateway on loopback, the testkit OAuth
//! server as provider and user IdP) and the small helpers the scenarios share.

use super::common::{INTERNAL_TOKEN, serve_gateway, status_and_json, test_config};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nexus_broker::BrokerConfig;
use nexus_broker::crypto::{Keyring, MasterKey};
use nexus_testkit::{OAuthServer, OAuthServerOptions};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::net::TcpListener;

pub(crate) const ADMIN_TOKEN: &str = "identity-test-admin-token";
/// The agent every scenario registers.
pub(crate) const DECLARED: [&str; 4] = [
    "crm:contacts:read",
    "provider:github:read",
    "acme:gliding",
    "pipeline:trigger",
];

/// A broker + gateway pair with two workspaces (`acme`, `globex`), the OAuth provider `github`
/// (its connection in `acme` granted `read write`) and a static-key provider `static-api`.
pub(crate) struct IdStack {
    pub(crate) broker_url: String,
    pub(crate) gateway_url: String,
    pub(crate) database_url: String,
    pub(crate) oauth: OAuthServer,
    pub(crate) http: reqwest::Client,
    pub(crate) _dir: tempfile::TempDir,
    pub(crate) _broker: tokio::task::JoinHandle<()>,
}

impl Drop for IdStack {
    fn drop(&mut self) {
        self._broker.abort();
    }
}

impl IdStack {
    pub(crate) async fn start(database_url: Option<String>) -> Self {
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

    pub(crate) async fn admin(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
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

    pub(crate) async fn admin_ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.admin(method, path, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {value}"
        );
        value
    }

    /// `(agent_id, credential)`.
    pub(crate) async fn create_agent(
        &self,
        ws: &str,
        scopes: &[&str],
        ttl: Option<u64>,
    ) -> (String, String) {
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

    pub(crate) async fn gateway(
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

    pub(crate) async fn session(&self, credential: &str, body: Value) -> (u16, Value) {
        self.gateway("POST", "/v1/sessions", credential, Some(body))
            .await
    }

    pub(crate) async fn resolve(&self, bearer: &str, ws: &str, provider: &str) -> (u16, Value) {
        self.gateway(
            "GET",
            &format!("/v1/resolve?workspace_id={ws}&provider_name={provider}"),
            bearer,
            None,
        )
        .await
    }

    pub(crate) async fn exchange(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}/v1/token", self.gateway_url))
            .form(form)
            .send()
            .await
            .expect("gateway reachable");
        status_and_json(response).await
    }

    pub(crate) async fn audit(&self, query: &str) -> Vec<Value> {
        let records = self
            .admin_ok("GET", &format!("/admin/v1/audit?limit=1000&{query}"), None)
            .await;
        records.as_array().cloned().unwrap_or_default()
    }

    /// The newest record of `action` for `session_or_agent` (matched on either id column).
    pub(crate) async fn last_record(&self, ws: &str, action: &str, who: &str) -> Value {
        self.audit(&format!("workspace_id={ws}"))
            .await
            .into_iter()
            .find(|r| r["action"] == action && (r["session_id"] == who || r["agent_id"] == who))
            .unwrap_or_else(|| panic!("no `{action}` audit record for {who}"))
    }

    pub(crate) async fn verify_chain(&self, ws: Option<&str>) -> Value {
        let query = ws.map(|w| format!("?workspace_id={w}")).unwrap_or_default();
        self.admin_ok("GET", &format!("/admin/v1/audit/verify{query}"), None)
            .await
    }

    pub(crate) async fn db(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        sqlx::AnyPool::connect(&self.database_url)
            .await
            .expect("open the broker database")
    }
}

pub(crate) fn detail(record: &Value) -> Value {
    serde_json::from_str(record["detail"].as_str().expect("detail")).expect("detail is JSON")
}

pub(crate) fn assert_denied(record: &Value, reason: &str) {
    assert_eq!(record["outcome"], "denied", "{record}");
    assert_eq!(detail(record)["decision"], "denied", "{record}");
    assert_eq!(detail(record)["reason"], reason, "{record}");
}

pub(crate) fn jwt_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).expect("JWT part");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// Polls until `status` of the session reads `expected` (a deadline, not a fixed sleep).
pub(crate) async fn wait_for_status(
    stack: &IdStack,
    credential: &str,
    session_id: &str,
    expected: &str,
) {
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
