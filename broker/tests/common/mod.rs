//! Shared test support: fresh databases (SQLite file and, when configured, a new PostgreSQL
//! database per test) and a broker served on 127.0.0.1:0.
#![allow(dead_code)]

use nexus_broker::crypto::{Keyring, MasterKey};

pub mod process;
pub mod webhooks;

/// Fresh databases (SQLite, and PostgreSQL when configured). Each test file uses some of them.
#[allow(unused_imports)]
pub use nexus_vault::testing::{all_dbs, fresh_pg_url, pg_server_url, raw_pool, sqlite_db};

pub const ADMIN_TOKEN: &str = "test-admin-token";
pub const INTERNAL_TOKEN: &str = "test-internal-token";

/// A broker served in this process on 127.0.0.1:0.
pub struct TestBroker {
    pub url: String,
    pub broker: nexus_broker::Broker,
    pub http: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn test_config(database_url: &str) -> nexus_broker::BrokerConfig {
    nexus_broker::BrokerConfig {
        database_url: database_url.to_owned(),
        keyring: Some(Keyring::single(MasterKey::generate())),
        admin_token: ADMIN_TOKEN.into(),
        internal_token: INTERNAL_TOKEN.into(),
        provider_backoff: std::time::Duration::from_millis(10),
        ..Default::default()
    }
}

impl TestBroker {
    pub async fn start(mut config: nexus_broker::BrokerConfig) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        config.public_url = url.clone();
        let broker = nexus_broker::Broker::start(config)
            .await
            .expect("broker starts");
        let router = broker.router();
        let task = tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await;
        });
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Self {
            url,
            broker,
            http,
            task,
        }
    }

    pub fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(ADMIN_TOKEN)
    }

    pub fn internal(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(INTERNAL_TOKEN)
    }

    /// Send, return (status, JSON body). Panics with the body when it is not JSON.
    pub async fn send(req: reqwest::RequestBuilder) -> (u16, serde_json::Value) {
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        if text.is_empty() {
            return (status, serde_json::Value::Null);
        }
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("status {status}: body is not JSON: {text}"));
        (status, body)
    }

    pub async fn create_workspace(&self, id: &str) {
        let (status, body) = Self::send(
            self.admin(reqwest::Method::POST, "/admin/v1/workspaces")
                .json(&serde_json::json!({"id": id})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }

    pub async fn put_provider(&self, spec: serde_json::Value) -> serde_json::Value {
        let (status, body) = Self::send(
            self.admin(reqwest::Method::POST, "/admin/v1/providers")
                .json(&spec),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// `POST /internal/v1/resolve` as an API-key principal of `ws`.
    pub async fn resolve(
        &self,
        ws: &str,
        provider: &str,
        extra: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let mut body = serde_json::json!({
            "principal": {"kind": "api_key", "workspace_id": ws, "key_id": "k1"},
            "workspace_id": ws, "provider_name": provider
        });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        Self::send(
            self.internal(reqwest::Method::POST, "/internal/v1/resolve")
                .json(&body),
        )
        .await
    }
}

/// The admin API body of a provider pointing at a testkit OAuth server.
pub fn testkit_provider(oauth: &nexus_testkit::OAuthServer, name: &str) -> serde_json::Value {
    serde_json::json!({
        "name": name,
        "auth_type": "oauth2",
        "client_id": oauth.client_id(),
        "client_secret": oauth.client_secret(),
        "issuer": oauth.issuer(),
        "enable_discovery": true,
        "auth_url": oauth.authorize_url(),
        "token_url": oauth.token_url(),
        "scopes": ["read"],
        "rotates_refresh_tokens": true,
        "default_expires_in": 1234
    })
}

impl TestBroker {
    /// Import a refresh token as a connection of `ws`; returns the connection id.
    pub async fn import_refresh_token(
        &self,
        ws: &str,
        provider: &str,
        refresh_token: &str,
    ) -> String {
        let (status, body) = Self::send(
            self.admin(reqwest::Method::POST, &format!("/admin/v1/workspaces/{ws}/connections/import"))
                .json(&serde_json::json!({"provider_name": provider, "kind": "refresh_token", "secret": refresh_token})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().expect("connection id").to_owned()
    }
}

/// The `connection_usage` rows of connection `id` (principal, last used), once there are
/// `expected` of them. Usage is written after the resolve has answered (a group commit of
/// its own, `vault/src/connections/usage.rs`), so it is polled; the deadline only turns a hang
/// into a failure.
pub async fn usage_rows(pool: &sqlx::AnyPool, id: &str, expected: usize) -> Vec<(String, i64)> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT principal, last_used_at FROM connection_usage WHERE connection_id = $1",
        )
        .bind(id)
        .fetch_all(pool)
        .await
        .expect("usage rows");
        if rows.len() >= expected || tokio::time::Instant::now() >= deadline {
            return rows;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
