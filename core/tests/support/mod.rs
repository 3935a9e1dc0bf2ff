//! A scriptable HTTP server on 127.0.0.1 for the client tests: it records every request and
//! answers with whatever the test's behaviour function returns. Used both as a stand-in gateway
//! and as a mock upstream SaaS API.

#![allow(dead_code)] // each test binary uses a different part of it

pub mod stack;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use nexus_sdk::{ClientOptions, NexusClient, RetryPolicy};
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What the server answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string(),
        }
    }

    pub fn text(status: u16, content_type: &str, body: &str) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
        }
    }

    /// A `/v1/resolve` 200 body with an oauth2 strategy.
    pub fn token(access_token: &str, expires_in: i64) -> Self {
        Self::json(
            200,
            json!({
                "access_token": access_token, "token_type": "Bearer", "expires_in": expires_in,
                "strategy": {"type": "oauth2"},
                "credentials": {"access_token": access_token},
                "scopes": ["repo"], "api_base_url": "https://api.example.com",
                "connection_id": "conn_1"
            }),
        )
    }

    pub fn error(status: u16, code: &str, message: &str) -> Self {
        Self::json(status, json!({"error": code, "message": message}))
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// Decides the reply to request number `index` (0-based).
pub type Behaviour = Arc<dyn Fn(usize, Recorded) -> BoxFuture<'static, Reply> + Send + Sync>;

#[derive(Clone)]
struct ServerState {
    log: Arc<Mutex<Vec<Recorded>>>,
    behaviour: Behaviour,
}

pub struct TestServer {
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    /// Start a server whose replies come from `behaviour`.
    pub async fn start(behaviour: Behaviour) -> Self {
        let log = Arc::new(Mutex::new(Vec::new()));
        let state = ServerState {
            log: log.clone(),
            behaviour,
        };
        let app = Router::new().fallback(handle).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, log, task }
    }

    /// A server answering with a fixed sequence; the last reply repeats.
    pub async fn script(replies: Vec<Reply>) -> Self {
        let replies = Arc::new(replies);
        Self::start(Arc::new(move |i, _| {
            let replies = replies.clone();
            Box::pin(async move { replies[i.min(replies.len() - 1)].clone() })
        }))
        .await
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.log.lock().clone()
    }

    pub fn count(&self) -> usize {
        self.log.lock().len()
    }
}

async fn handle(
    State(state): State<ServerState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let recorded = Recorded {
        method,
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or_default().to_owned(),
        headers,
        body,
        at: Instant::now(),
    };
    let index = {
        let mut log = state.log.lock();
        log.push(recorded.clone());
        log.len() - 1
    };
    let reply = (state.behaviour)(index, recorded).await;
    let mut response = (
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        reply.body,
    )
        .into_response();
    for (name, value) in reply.headers {
        if let (Ok(n), Ok(v)) = (
            axum::http::HeaderName::from_bytes(name.as_bytes()),
            axum::http::HeaderValue::from_str(&value),
        ) {
            response.headers_mut().insert(n, v);
        }
    }
    response
}

pub const API_KEY: &str = "nxk_test_SECRETKEY_123";

/// A client of `server` with fast retries (1 ms backoff) so tests do not wait.
pub fn client_for(server: &TestServer) -> NexusClient {
    client_with(server, |_| {})
}

pub fn client_with(server: &TestServer, tweak: impl FnOnce(&mut ClientOptions)) -> NexusClient {
    let mut options = ClientOptions::new(server.url(), API_KEY);
    options.retry = RetryPolicy {
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        ..RetryPolicy::default()
    };
    options.timeout = Duration::from_secs(10);
    tweak(&mut options);
    NexusClient::new(options).expect("valid client options")
}

/// Poll `condition` until it holds or `deadline` passes (then panic with `what`).
pub async fn wait_until(what: &str, deadline: Duration, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
