//! The real broker (`nexus_broker::Broker`, SQLite in a temp dir) on 127.0.0.1:0, in front of
//! the testkit's fake OAuth provider, with the admin calls the gateway tests need.

use nexus_broker::BrokerConfig;
use nexus_broker::crypto::{Keyring, MasterKey};
use nexus_testkit::{OAuthServer, OAuthServerOptions};
use serde_json::{Value, json};
use tokio::net::TcpListener;

pub const ADMIN_TOKEN: &str = "gateway-test-admin-token";
/// Workspaces every test broker starts with.
pub const WORKSPACES: [&str; 2] = ["acme", "globex"];

pub struct TestBroker {
    pub url: String,
    /// The broker's database URL (tests that move time edit rows directly).
    pub database_url: String,
    pub oauth: OAuthServer,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
    /// What a second broker on the same database needs ([`TestBroker::start_peer`]).
    config: BrokerConfig,
}

/// Another broker process's worth of broker on the same database (its task ends on drop).
pub struct PeerBroker {
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PeerBroker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestBroker {
    /// A broker with workspaces [`WORKSPACES`] and two providers: `github` (OAuth 2, at the
    /// fake provider; access tokens live one hour) and `static-api` (a static API key).
    pub async fn start(internal_token: &str) -> Self {
        Self::start_on(internal_token, None).await
    }

    /// [`TestBroker::start`] on `database_url` (a fresh SQLite file when `None`).
    pub async fn start_on(internal_token: &str, database_url: Option<String>) -> Self {
        Self::start_configured(internal_token, database_url, |_| {}).await
    }

    /// [`TestBroker::start_on`] with the broker's configuration adjusted first (e.g. the
    /// authorization server's development login).
    pub async fn start_configured(
        internal_token: &str,
        database_url: Option<String>,
        adjust: impl FnOnce(&mut BrokerConfig),
    ) -> Self {
        let oauth = OAuthServer::start(OAuthServerOptions::default()).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let sqlite = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("broker.db").display()
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind broker");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let config = BrokerConfig {
            database_url: database_url.unwrap_or(sqlite),
            keyring: Some(Keyring::single(MasterKey::generate())),
            admin_token: ADMIN_TOKEN.into(),
            internal_token: internal_token.into(),
            public_url: url.clone(),
            ..Default::default()
        };
        let mut config = config;
        adjust(&mut config);
        let task = serve_broker(config.clone(), listener).await;
        let this = Self {
            database_url: config.database_url.clone(),
            url,
            oauth,
            http: reqwest::Client::new(),
            _dir: dir,
            task,
            config,
        };

        for ws in WORKSPACES {
            this.admin(
                reqwest::Method::POST,
                "/admin/v1/workspaces",
                Some(json!({"id": ws})),
                201,
            )
            .await;
        }
        let github = json!({
            "name": "github",
            "auth_type": "oauth2",
            "client_id": this.oauth.client_id(),
            "client_secret": this.oauth.client_secret(),
            "auth_url": this.oauth.authorize_url(),
            "token_url": this.oauth.token_url(),
            "scopes": ["read"],
            "api_base_url": "https://api.github.invalid"
        });
        this.admin(
            reqwest::Method::POST,
            "/admin/v1/providers",
            Some(github),
            200,
        )
        .await;
        let static_api = json!({
            "name": "static-api",
            "auth_type": "api_key",
            "strategy": {"type": "header", "config": {"header_name": "X-Api-Key"}}
        });
        this.admin(
            reqwest::Method::POST,
            "/admin/v1/providers",
            Some(static_api),
            200,
        )
        .await;
        this
    }

    /// A second broker sharing this one's database and keys (as a second process would).
    pub async fn start_peer(&self) -> PeerBroker {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind broker");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let mut config = self.config.clone();
        config.public_url = url.clone();
        let task = serve_broker(config, listener).await;
        PeerBroker { url, task }
    }

    /// A new API key for `workspace`: `(key, key_id)`.
    pub async fn new_key(&self, workspace: &str) -> (String, String) {
        let path = format!("/admin/v1/workspaces/{workspace}/api-keys");
        let created = self.admin(reqwest::Method::POST, &path, None, 201).await;
        let key = created["api_key"].as_str().expect("api_key").to_owned();
        let key_id = created["key_id"].as_str().expect("key_id").to_owned();
        (key, key_id)
    }

    pub async fn revoke_key(&self, workspace: &str, key_id: &str) {
        let path = format!("/admin/v1/workspaces/{workspace}/api-keys/{key_id}");
        self.admin(reqwest::Method::DELETE, &path, None, 204).await;
    }

    /// An active connection of `workspace` to `provider`; returns its id. For `github`, a refresh
    /// token issued by the fake provider (so resolving it refreshes there); for `static-api`, a
    /// static key.
    pub async fn add_connection(&self, workspace: &str, provider: &str) -> String {
        let body = match provider {
            "github" => {
                let (_, refresh_token) = self.oauth.issue_tokens_directly(["read"]);
                json!({"provider_name": "github", "kind": "refresh_token", "secret": refresh_token})
            }
            _ => json!({"provider_name": provider, "kind": "api_key", "secret": "sk_static_test"}),
        };
        let path = format!("/admin/v1/workspaces/{workspace}/connections/import");
        let connection = self
            .admin(reqwest::Method::POST, &path, Some(body), 201)
            .await;
        connection["id"].as_str().expect("connection id").to_owned()
    }

    /// The broker's audit records of `workspace` (newest first, as the admin API returns them).
    pub async fn audit(&self, workspace: &str) -> Vec<Value> {
        let path = format!("/admin/v1/audit?workspace_id={workspace}&limit=1000");
        let records = self.admin(reqwest::Method::GET, &path, None, 200).await;
        records.as_array().cloned().unwrap_or_default()
    }

    /// A new agent of `workspace` declaring `scopes`: `(agent_id, agent_credential)`.
    pub async fn new_agent(&self, workspace: &str, scopes: &[&str]) -> (String, String) {
        let path = format!("/admin/v1/workspaces/{workspace}/agents");
        let body = json!({"name": "test-agent", "scopes": scopes});
        let created = self
            .admin(reqwest::Method::POST, &path, Some(body), 201)
            .await;
        let id = created["agent_id"].as_str().expect("agent_id").to_owned();
        let credential = created["agent_credential"].as_str().expect("credential");
        (id, credential.to_owned())
    }

    /// An admin call that must answer `expected`; returns the JSON body (`Null` when empty).
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        expected: u16,
    ) -> Value {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("broker reachable");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        assert_eq!(status, expected, "{path}: {text}");
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("JSON")
        }
    }
}

async fn serve_broker(config: BrokerConfig, listener: TcpListener) -> tokio::task::JoinHandle<()> {
    let broker = nexus_broker::Broker::start(config)
        .await
        .expect("broker starts");
    let router = broker.router();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    })
}

/// A new, empty PostgreSQL database on the server named by `NEXUS_TEST_DATABASE_URL`, or `None`
/// (with a note on stderr) when that is unset. Fails when `NEXUS_REQUIRE_PG=1` and it is unset.
pub async fn fresh_postgres_database() -> Option<String> {
    let server = match std::env::var("NEXUS_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            assert_ne!(
                std::env::var("NEXUS_REQUIRE_PG").as_deref(),
                Ok("1"),
                "NEXUS_REQUIRE_PG=1 but NEXUS_TEST_DATABASE_URL is unset"
            );
            eprintln!(
                "note: NEXUS_TEST_DATABASE_URL unset; skipping the PostgreSQL-backed gateway test"
            );
            return None;
        }
    };
    use sqlx::{Connection, Executor};
    let name = format!("nexus_gateway_t_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&server)
        .await
        .expect("connect to PostgreSQL");
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .expect("create database");
    let mut url = url::Url::parse(&server).expect("server URL");
    url.set_path(&format!("/{name}"));
    Some(url.to_string())
}
