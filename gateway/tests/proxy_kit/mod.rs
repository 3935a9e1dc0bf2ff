//! Proxy-mode harness: the common stack (real broker, gateway on loopback) plus a
//! [`RecordingUpstream`] as the provider's API, and a workspace API key.

#![allow(dead_code)]

use crate::common::Stack;
use nexus_gateway::GatewayConfig;
use nexus_testkit::RecordingUpstream;
use serde_json::{Value, json};

pub const WS: &str = "acme";

pub struct ProxyStack {
    pub stack: Stack,
    pub upstream: RecordingUpstream,
    pub key: String,
    /// A client that follows no redirect (what the proxy returns is what the test sees).
    pub http: reqwest::Client,
}

impl ProxyStack {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut GatewayConfig)) -> Self {
        let stack = Stack::start_with(adjust).await;
        let upstream = RecordingUpstream::start().await;
        let (key, _) = stack.broker.new_key(WS).await;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Self {
            stack,
            upstream,
            key,
            http,
        }
    }

    /// A static provider `name` at `{upstream}/base` with `strategy`, optional `proxy` settings,
    /// and a connection of [`WS`] holding `credentials` (an object of credential fields).
    pub async fn static_provider(
        &self,
        name: &str,
        strategy: Value,
        proxy: Value,
        credentials: Value,
    ) {
        let auth_type = strategy["type"].as_str().expect("strategy type").to_owned();
        let mut provider = json!({
            "name": name,
            "auth_type": if auth_type == "header" { "api_key".to_owned() } else { auth_type },
            "strategy": strategy,
            "api_base_url": format!("{}/base", self.upstream.url),
        });
        if !proxy.is_null() {
            provider["proxy"] = proxy;
        }
        self.add_provider(provider).await;
        let body = json!({"provider_name": name, "kind": "credentials", "secret": credentials});
        self.import_connection(body).await;
    }

    /// `POST /admin/v1/providers` with `provider` (must succeed).
    pub async fn add_provider(&self, provider: Value) {
        self.stack
            .broker
            .admin(
                reqwest::Method::POST,
                "/admin/v1/providers",
                Some(provider),
                200,
            )
            .await;
    }

    /// Import a connection of [`WS`] (`body` as `POST …/connections/import` takes it).
    pub async fn import_connection(&self, body: Value) {
        let path = format!("/admin/v1/workspaces/{WS}/connections/import");
        self.stack
            .broker
            .admin(reqwest::Method::POST, &path, Some(body), 201)
            .await;
    }

    /// The common test provider `up`: header strategy `X-Upstream-Key: sk_upstream`.
    pub async fn header_provider(&self, proxy: Value) {
        self.static_provider(
            "up",
            json!({"type": "header", "config": {"header_name": "X-Upstream-Key"}}),
            proxy,
            json!({"api_key": "sk_upstream"}),
        )
        .await;
    }

    /// `/v1/proxy/acme/{provider}{tail}`
    pub fn target(&self, provider: &str, tail: &str) -> String {
        format!("/v1/proxy/{WS}/{provider}{tail}")
    }

    pub fn url(&self, provider: &str, tail: &str) -> String {
        self.stack.url(&self.target(provider, tail))
    }

    /// A reqwest request to the proxy with the API key.
    pub fn request(
        &self,
        method: reqwest::Method,
        provider: &str,
        tail: &str,
    ) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(provider, tail))
            .header("X-API-Key", &self.key)
    }

    pub fn auth_header(&self) -> String {
        format!("X-API-Key: {}", self.key)
    }

    /// A session token of a new agent of [`WS`] declaring (and granted) `scopes`.
    pub async fn session_token(&self, scopes: &[&str]) -> String {
        let (_, credential) = self.stack.broker.new_agent(WS, scopes).await;
        let created: Value = self
            .http
            .post(self.stack.url("/v1/sessions"))
            .bearer_auth(credential)
            .json(&json!({}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        created["session_token"]
            .as_str()
            .expect("session token")
            .to_owned()
    }
}
