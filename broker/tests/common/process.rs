//! Real `nexus-broker` processes (the binary, as operators run it): spawned on 127.0.0.1:0,
//! their stderr kept, driven over HTTP.

use super::{ADMIN_TOKEN, INTERNAL_TOKEN};
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const WAIT: Duration = Duration::from_secs(20);

pub struct BrokerProcess {
    pub child: Child,
    pub url: String,
    /// Every stderr line the process has written so far.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl BrokerProcess {
    /// Start the binary on 127.0.0.1:0 and read the address it reports on stderr.
    pub async fn spawn(database_url: &str, master_key: &str) -> Self {
        Self::spawn_with_env(database_url, master_key, "warn", &[]).await
    }

    pub async fn spawn_with_env(
        database_url: &str,
        master_key: &str,
        rust_log: &str,
        env: &[(&str, &str)],
    ) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_nexus-broker"))
            .envs(env.iter().copied())
            .env("NEXUS_DATABASE_URL", database_url)
            .env("NEXUS_MASTER_KEY", master_key)
            .env("NEXUS_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("NEXUS_INTERNAL_TOKEN", INTERNAL_TOKEN)
            .env("NEXUS_BROKER_ADDR", "127.0.0.1:0")
            .env("NEXUS_PROVIDER_TIMEOUT_MS", "10000")
            .env("RUST_LOG", rust_log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn nexus-broker");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let log = Arc::new(Mutex::new(Vec::new()));
        let addr = tokio::time::timeout(WAIT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(addr) = line.split("listening on ").nth(1) {
                    return addr.trim().to_owned();
                }
                log.lock().push(line);
            }
            panic!("nexus-broker exited before listening");
        })
        .await
        .expect("nexus-broker did not start in time");
        // Keep draining stderr so the child never blocks on a full pipe.
        let sink = log.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                sink.lock().push(line);
            }
        });
        Self {
            child,
            url: format!("http://{addr}"),
            log,
        }
    }

    pub async fn admin(
        &self,
        http: &reqwest::Client,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("admin call");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn resolve(&self, http: &reqwest::Client) -> (u16, Value) {
        resolve_at(http, &self.url).await.expect("resolve")
    }
}

/// `POST /internal/v1/resolve` for `w1`/`testprov`; `None` when the broker did not answer.
pub async fn resolve_at(http: &reqwest::Client, url: &str) -> Option<(u16, Value)> {
    let body = json!({"principal": {"kind": "api_key", "workspace_id": "w1", "key_id": "k"}, "workspace_id": "w1", "provider_name": "testprov"});
    let resp = http
        .post(format!("{url}/internal/v1/resolve"))
        .bearer_auth(INTERNAL_TOKEN)
        .json(&body)
        .send()
        .await
        .ok()?;
    let status = resp.status().as_u16();
    Some((status, resp.json().await.unwrap_or(Value::Null)))
}
