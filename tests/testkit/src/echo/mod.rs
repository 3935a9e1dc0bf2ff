//! An upstream API stand-in that answers every request with a JSON description of it and
//! records it. See [`EchoServer`].
//!
//! | path | answer |
//! | --- | --- |
//! | any | 200 [`EchoResponse`] JSON: `{method, path, query, raw_query, headers, body, body_base64}` |
//! | `/status/{code}` | that status (200-599; others get 400), same JSON body (none for 204/304) |
//! | `/garbage` | 200, `Content-Type: application/json`, body that is not JSON |
//! | `/delay/{ms}` | the JSON echo after waiting `ms` milliseconds (at most 300 s) |
//! | `/stream?chunks=N` | 200, a chunked body of N lines (default 5) sent as separate pieces |
//! | `GET /_control/requests` / `DELETE` | the last [`KEPT_REQUESTS`] recorded requests ([`RecordedRequest`]) / clear them |
//! | `GET /_control/wait?requests=N&timeout_ms=M` | 200 `{"requests": n}` once N are recorded (counted, kept or not), else 408 |
//! | `POST /_control/require` | set the required credential ([`Requirement`] JSON) |
//!
//! The required-credential gate runs before every non-control path: a request without the
//! credential gets `401` (`WWW-Authenticate: Bearer error="invalid_token"`) and is recorded with
//! `status: 401`; see [`Requirement`] for the kinds, including one that asks an
//! [`OAuthServer`](crate::OAuthServer) whether a bearer token is active.
//! `/_control/*` requests are never recorded and never gated.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::watch;

pub use requirement::Requirement;

use crate::oauth::WaitTimeout;
use crate::serve::{LOOPBACK_ANY_PORT, RunningServer};

mod requirement;
mod responses;

/// Largest request body the echo server accepts (bigger bodies get 413).
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// How many recorded requests are kept (the newest); older ones are dropped but still counted.
/// Tests read a handful; a load run (`scripts/bench/proxy.sh`, millions of calls) kept every
/// request and grew this server to 1.4 GB, so its memory is bounded here.
pub const KEPT_REQUESTS: usize = 1024;

/// The JSON body the echo server answers with: a faithful description of the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EchoResponse {
    pub method: String,
    /// The path, still percent-encoded as received.
    pub path: String,
    /// Decoded query parameters; a repeated name keeps its last value (see `raw_query`).
    pub query: BTreeMap<String, String>,
    /// The query string exactly as received, without `?`.
    pub raw_query: Option<String>,
    /// Header names lower-cased; repeated headers joined with `", "`.
    pub headers: BTreeMap<String, String>,
    /// The body as UTF-8 (invalid sequences replaced); see `body_base64` for the exact bytes.
    pub body: String,
    pub body_base64: String,
}

/// One request as recorded by the echo server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// The status the server answered.
    pub status: u16,
    #[serde(flatten)]
    pub request: EchoResponse,
}

struct EchoShared {
    /// For asking an OAuth server's introspection endpoint (`Requirement::OauthToken`).
    http: reqwest::Client,
    requirement: Mutex<Requirement>,
    /// The newest [`KEPT_REQUESTS`] requests, oldest first.
    requests: Mutex<VecDeque<RecordedRequest>>,
    /// Number of requests recorded since the last clear (kept or not), for waiting without
    /// sleeping.
    recorded: watch::Sender<u64>,
}

/// A running echo upstream on loopback. Dropping it stops the server.
///
/// ```no_run
/// # async fn demo() {
/// use nexus_testkit::{EchoServer, Requirement};
/// let echo = EchoServer::start().await;
/// echo.require(Requirement::bearer("token-1"));
/// // ... the code under test calls echo.url() + "/v1/items" ...
/// let seen = echo.requests();
/// # let _ = seen;
/// # }
/// ```
pub struct EchoServer {
    shared: Arc<EchoShared>,
    server: RunningServer,
}

impl std::fmt::Debug for EchoServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EchoServer")
            .field("url", &self.server.url())
            .finish_non_exhaustive()
    }
}

impl EchoServer {
    /// Start on `127.0.0.1:0`.
    ///
    /// # Panics
    /// If no loopback port can be bound. Use [`EchoServer::try_start_on`] to handle that.
    pub async fn start() -> Self {
        match Self::try_start_on(LOOPBACK_ANY_PORT).await {
            Ok(server) => server,
            Err(error) => panic!("nexus-testkit: could not start the echo server: {error}"),
        }
    }

    /// Start on `addr`, reporting a bind failure.
    pub async fn try_start_on(addr: SocketAddr) -> std::io::Result<Self> {
        let (recorded, _) = watch::channel(0);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(std::io::Error::other)?;
        let shared = Arc::new(EchoShared {
            http,
            requirement: Mutex::new(Requirement::None),
            requests: Mutex::new(VecDeque::new()),
            recorded,
        });
        let router = router(shared.clone());
        let server = RunningServer::start(addr, |_| router).await?;
        Ok(Self { shared, server })
    }

    /// Base URL, `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Change the required credential; applies to the next request.
    pub fn require(&self, requirement: Requirement) {
        *self.shared.requirement.lock() = requirement;
    }

    /// The required credential now.
    pub fn requirement(&self) -> Requirement {
        self.shared.requirement.lock().clone()
    }

    /// The recorded requests still kept (the newest [`KEPT_REQUESTS`]), oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        kept(&self.shared)
    }

    /// How many requests were recorded since the last clear, including those no longer kept.
    pub fn recorded_count(&self) -> u64 {
        *self.shared.recorded.borrow()
    }

    /// Forget the recorded requests.
    pub fn clear_requests(&self) {
        clear(&self.shared);
    }

    /// Wait until at least `count` requests have been recorded (since the last clear).
    pub async fn wait_for_requests(
        &self,
        count: u64,
        timeout: Duration,
    ) -> Result<Vec<RecordedRequest>, WaitTimeout<u64>> {
        let started = Instant::now();
        let mut receiver = self.shared.recorded.subscribe();
        match tokio::time::timeout(timeout, receiver.wait_for(|n| *n >= count)).await {
            Ok(Ok(_)) => Ok(self.requests()),
            _ => Err(WaitTimeout {
                waited_ms: started.elapsed().as_millis(),
                last: *self.shared.recorded.borrow(),
            }),
        }
    }

    /// Stop the server and wait until it has stopped (dropping it also stops it).
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

fn router(shared: Arc<EchoShared>) -> Router {
    Router::new()
        .route(
            "/_control/requests",
            get(list_requests).delete(clear_requests),
        )
        .route("/_control/require", post(set_requirement))
        .route("/_control/wait", get(wait))
        .fallback(echo)
        .with_state(shared)
}

fn kept(shared: &EchoShared) -> Vec<RecordedRequest> {
    shared.requests.lock().iter().cloned().collect()
}

fn clear(shared: &EchoShared) {
    let mut requests = shared.requests.lock();
    requests.clear();
    shared.recorded.send_replace(0);
}

async fn list_requests(State(shared): State<Arc<EchoShared>>) -> Json<Vec<RecordedRequest>> {
    Json(kept(&shared))
}

async fn clear_requests(State(shared): State<Arc<EchoShared>>) -> StatusCode {
    clear(&shared);
    StatusCode::NO_CONTENT
}

async fn set_requirement(
    State(shared): State<Arc<EchoShared>>,
    Json(requirement): Json<Requirement>,
) -> StatusCode {
    *shared.requirement.lock() = requirement;
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WaitQuery {
    requests: u64,
    #[serde(default = "default_wait_ms")]
    timeout_ms: u64,
}

fn default_wait_ms() -> u64 {
    10_000
}

async fn wait(State(shared): State<Arc<EchoShared>>, Query(query): Query<WaitQuery>) -> Response {
    let mut receiver = shared.recorded.subscribe();
    let waited = receiver.wait_for(|n| *n >= query.requests);
    match tokio::time::timeout(Duration::from_millis(query.timeout_ms), waited).await {
        Ok(Ok(n)) => Json(json!({ "requests": *n })).into_response(),
        _ => {
            let n = *shared.recorded.borrow();
            (
                StatusCode::REQUEST_TIMEOUT,
                Json(json!({ "error": "timeout", "requests": n })),
            )
                .into_response()
        }
    }
}

/// Every non-control request: describe it, check the credential, route by path, record.
async fn echo(State(shared): State<Arc<EchoShared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response(),
    };
    let described = describe(&parts.method, &parts.uri, &parts.headers, &body);
    let requirement = shared.requirement.lock().clone();
    let verdict = requirement::check(&requirement, &described, &shared.http).await;
    let response = match verdict.refusal() {
        Some(refusal) => refusal,
        None => responses::respond(&described).await,
    };
    tracing::debug!(method = %described.method, path = %described.path, status = response.status().as_u16(), "echo request");
    let recorded = RecordedRequest {
        status: response.status().as_u16(),
        request: described,
    };
    {
        let mut requests = shared.requests.lock();
        if requests.len() == KEPT_REQUESTS {
            requests.pop_front();
        }
        requests.push_back(recorded);
        // Counted under the same lock as the push, so a clear never interleaves with it.
        shared.recorded.send_modify(|n| *n += 1);
    }
    response
}

fn describe(
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> EchoResponse {
    let query = uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let mut header_map: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        header_map
            .entry(name.as_str().to_owned())
            .and_modify(|existing| {
                existing.push_str(", ");
                existing.push_str(&value);
            })
            .or_insert(value);
    }
    EchoResponse {
        method: method.as_str().to_owned(),
        path: uri.path().to_owned(),
        query,
        raw_query: uri.query().map(str::to_owned),
        headers: header_map,
        body: String::from_utf8_lossy(body).into_owned(),
        body_base64: STANDARD.encode(body),
    }
}
