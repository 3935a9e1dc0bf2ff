//! [`Forwarder`]: a bare forwarding proxy, the floor of proxy mode in `scripts/bench/proxy.sh`.
//!
//! It does what any HTTP proxy must do per call and nothing else: accept the caller's request
//! (hyper server through axum), send it to the upstream over a keep-alive pool (reqwest, the
//! client the gateway uses), and stream the answer back. No authentication, no audit, no
//! credential, no header policy beyond dropping `Host`. Two HTTP exchanges per call where a
//! direct call makes one: the benchmark runs it beside the gateway so the gateway's own cost
//! (everything above this floor) can be read apart from the price of being a proxy at all.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::serve::RunningServer;

struct Shared {
    /// `http://host:port`, no trailing slash.
    upstream: String,
    http: reqwest::Client,
}

/// A running forwarder. Dropping it stops the server.
pub struct Forwarder {
    server: RunningServer,
}

impl std::fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarder")
            .field("url", &self.server.url())
            .finish_non_exhaustive()
    }
}

impl Forwarder {
    /// Forward every request on `addr` to `upstream` (`http://host:port`), path and query kept.
    pub async fn try_start_on(addr: SocketAddr, upstream: &str) -> std::io::Result<Self> {
        // The same pool shape as the gateway's upstream client, so the floor is like for like.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .pool_max_idle_per_host(256)
            .build()
            .map_err(std::io::Error::other)?;
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            http,
        });
        let router = Router::new().fallback(forward).with_state(shared);
        let server = RunningServer::start(addr, |_| router).await?;
        Ok(Self { server })
    }

    /// Base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Stop the server and wait until it has stopped.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

async fn forward(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let url = format!("{}{target}", shared.upstream);
    parts.headers.remove(header::HOST);
    let sent = shared
        .http
        .request(parts.method, url)
        .headers(parts.headers)
        .body(reqwest::Body::wrap_stream(body.into_data_stream()))
        .send()
        .await;
    match sent {
        Ok(mut answer) => {
            let status = answer.status();
            let headers = std::mem::take(answer.headers_mut());
            let mut response = Response::new(Body::from_stream(answer.bytes_stream()));
            *response.status_mut() = status;
            *response.headers_mut() = headers;
            response
        }
        Err(error) => (StatusCode::BAD_GATEWAY, error.to_string()).into_response(),
    }
}
