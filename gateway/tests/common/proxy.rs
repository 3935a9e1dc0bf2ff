//! A loopback reverse proxy that counts requests by path and can hold requests to one path until
//! the test releases them. It sits between the gateway and the broker.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

#[derive(Clone)]
pub struct CountingProxy {
    pub url: String,
    state: Arc<ProxyState>,
}

struct ProxyState {
    upstream: String,
    http: reqwest::Client,
    counts: Mutex<HashMap<String, usize>>,
    /// Requests to this path wait until the gate's value becomes `true`.
    held_path: Mutex<Option<String>>,
    gate: watch::Sender<bool>,
}

impl CountingProxy {
    pub async fn start(upstream: &str) -> Self {
        let (gate, _) = watch::channel(true);
        let state = Arc::new(ProxyState {
            upstream: upstream.trim_end_matches('/').to_owned(),
            // A proxy passes redirects on (the relayed OAuth callback's), never follows them.
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("proxy client"),
            counts: Mutex::new(HashMap::new()),
            held_path: Mutex::new(None),
            gate,
        });
        let router = Router::new().fallback(forward).with_state(state.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { url, state }
    }

    /// Requests seen for `path` so far.
    pub fn count(&self, path: &str) -> usize {
        self.state.counts.lock().get(path).copied().unwrap_or(0)
    }

    /// Requests seen in all.
    pub fn total(&self) -> usize {
        self.state.counts.lock().values().sum()
    }

    /// Hold every request to `path` (after counting it) until [`CountingProxy::release`].
    pub fn hold(&self, path: &str) {
        *self.state.held_path.lock() = Some(path.to_owned());
        self.state.gate.send_replace(false);
    }

    pub fn release(&self) {
        self.state.gate.send_replace(true);
        *self.state.held_path.lock() = None;
    }
}

async fn forward(State(state): State<Arc<ProxyState>>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    *state.counts.lock().entry(path.clone()).or_default() += 1;
    let held = state.held_path.lock().as_deref() == Some(path.as_str());
    if held {
        let mut gate = state.gate.subscribe();
        let _ = gate.wait_for(|open| *open).await;
    }

    let path_and_query = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let method = request.method().clone();
    let headers = request.headers().clone();
    let body = match axum::body::to_bytes(request.into_body(), 1 << 20).await {
        Ok(body) => body,
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    };
    let mut upstream = state
        .http
        .request(method, format!("{}{path_and_query}", state.upstream))
        .body(body);
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            upstream = upstream.header(name, value);
        }
    }
    match upstream.send().await {
        Ok(response) => {
            let status = response.status();
            let headers = response.headers().clone();
            let body: Bytes = response.bytes().await.unwrap_or_default();
            let mut out = Response::new(Body::from(body));
            *out.status_mut() = status;
            for (name, value) in &headers {
                if name != "content-length" && name != "transfer-encoding" {
                    out.headers_mut().insert(name, value.clone());
                }
            }
            out
        }
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}
