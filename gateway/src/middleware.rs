//! The layers every request passes through, outermost first, all run by one tower layer,
//! [`Edge`] (one boxed future per request, instead of the four boxed services and futures per
//! layer that `axum::middleware::from_fn` costs):
//!
//! 1. finalize: gives the request an id (`X-Request-Id`, propagated when well-formed), and on
//!    the way out renders every error as the JSON envelope with that id, including errors raised
//!    by axum itself (404, 405, 413 from a body limit) which arrive as plain text.
//! 2. observe: one structured log line and the metrics for each request.
//! 3. limits ([`enforce_limits`]): header size (431) and declared body size (413), before any
//!    work; not on proxy routes (they enforce the proxy's own limits).
//! 4. deadline: the whole-request timeout (504); not on proxy routes (they have their own).

use crate::Gateway;
use crate::access_log::Route;
use crate::caller_memo::CallerMemo;
use crate::error::{ApiError, PendingError};
use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use nexus_protocol::{ErrorBody, ErrorCode};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Instant;

pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// [`REQUEST_ID_HEADER`] as a name: looking a header up or inserting it by `&str` parses the
/// name on every request.
const REQUEST_ID_NAME: HeaderName = HeaderName::from_static(REQUEST_ID_HEADER);
/// Longest request id accepted from a caller; longer ones are replaced.
const MAX_REQUEST_ID_LEN: usize = 128;

/// The id of the current request, available to handlers as an extension.
#[derive(Debug, Clone)]
pub struct RequestId(IdRepr);

#[derive(Debug, Clone)]
enum IdRepr {
    /// Made here: a simple UUID kept inline, so the copies for the handlers and the access line
    /// allocate nothing; its header value is made once, on the way out.
    Generated([u8; uuid::fmt::Simple::LENGTH]),
    /// The caller's, validated.
    Given(HeaderValue),
}

impl RequestId {
    /// The caller's id when it is 1–128 characters of `[A-Za-z0-9._:-]` (safe to log and echo).
    fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let value = headers.get(&REQUEST_ID_NAME)?;
        let bytes = value.as_bytes();
        let well_formed = !bytes.is_empty()
            && bytes.len() <= MAX_REQUEST_ID_LEN
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        well_formed.then(|| Self(IdRepr::Given(value.clone())))
    }

    fn generate() -> Self {
        // From the thread's CSPRNG (seeded once by the OS) rather than `Uuid::new_v4`, which
        // asks the kernel for 16 bytes on every request: a system call on the warm path.
        // Encoded on the stack: the response header's copy is the only allocation.
        let bytes: [u8; 16] = rand::random();
        let mut buf = [0u8; uuid::fmt::Simple::LENGTH];
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .simple()
            .encode_lower(&mut buf);
        Self(IdRepr::Generated(buf))
    }

    /// A caller's id as it is (for tests of what carries it).
    pub fn given(value: HeaderValue) -> Self {
        Self(IdRepr::Given(value))
    }

    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            IdRepr::Generated(buf) => buf,
            IdRepr::Given(value) => value.as_bytes(),
        }
    }

    pub fn as_str(&self) -> &str {
        // Only ever built from validated ASCII.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    fn into_header_value(self) -> HeaderValue {
        match self.0 {
            // A simple UUID is 32 hex digits: always a valid header value.
            IdRepr::Generated(buf) => HeaderValue::from_bytes(&buf)
                .unwrap_or_else(|_| HeaderValue::from_static("unknown")),
            IdRepr::Given(value) => value,
        }
    }
}

/// The tower layer of [`Edge`].
#[derive(Clone)]
pub struct EdgeLayer(pub Gateway);

impl<S> tower::Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Edge<S> {
        Edge {
            inner,
            gateway: self.0.clone(),
        }
    }
}

/// Request id, access log and metrics, limits and deadline around every route (module docs).
#[derive(Clone)]
pub struct Edge<S> {
    inner: S,
    gateway: Gateway,
}

impl<S> tower::Service<Request> for Edge<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = EdgeFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        // observe, on the way in.
        let started = Instant::now();
        let route = Route::from(request.extensions().get::<MatchedPath>().cloned());
        // limits and deadline: the API's routes and the fallback, not proxy mode's.
        let config = &self.gateway.inner.config;
        let api = !is_proxy_route(route.as_str());
        let refused = if api {
            enforce_limits(config, request.headers())
        } else {
            None
        };
        // With a front, a warm request never gets here unless the front declined it.
        if refused.is_none()
            && !self.gateway.inner.fronted.load(Ordering::Relaxed)
            && let Some(response) = answer_warm(
                &self.gateway,
                request.method(),
                request.uri(),
                request.headers(),
                started,
                route.clone(),
                &mut CallerMemo::one_request(),
            )
        {
            return EdgeFuture::Ready(std::future::ready(Ok(response)));
        }
        // finalize, on the way in.
        let request_id =
            RequestId::from_headers(request.headers()).unwrap_or_else(RequestId::generate);
        request.extensions_mut().insert(request_id.clone());
        let method = request.method().clone();
        let inner = match refused {
            None => Some(self.inner.call(request)),
            Some(_) => None,
        };
        let timeout = api.then_some(config.request_timeout);
        let gateway = self.gateway.clone();
        EdgeFuture::Boxed(Box::pin(async move {
            let run = async move {
                match (inner, refused) {
                    (Some(inner), _) => match timeout {
                        None => inner.await.unwrap_or_else(|never| match never {}),
                        Some(timeout) => match tokio::time::timeout(timeout, inner).await {
                            Ok(response) => response.unwrap_or_else(|never| match never {}),
                            Err(_) => ApiError::with_status(
                                StatusCode::GATEWAY_TIMEOUT,
                                ErrorCode::UpstreamUnavailable,
                                "the request took too long; retry later",
                            )
                            .into_response(),
                        },
                    },
                    (None, Some(refused)) => refused,
                    (None, None) => unreachable!("a request is either refused or run"),
                }
            };
            let (response, workspace) = crate::access_log::with_workspace_slot(run).await;
            observe(
                &gateway,
                started,
                method,
                route,
                &request_id,
                &response,
                workspace,
            );
            Ok(finalize(response, request_id))
        }))
    }
}

/// The front of one connection ([`crate::Gateway::front`]): what [`Edge`] does for a warm
/// resolve, before the router: the limits (a refused request is declined, and the router's
/// [`Edge`] refuses it), then [`answer_warm`] with the connection's memo. Any other request is
/// declined first.
pub(crate) fn front(
    gateway: &Gateway,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    memo: &mut CallerMemo,
) -> Option<Response> {
    if !crate::warm_resolve::wants(gateway, method, uri) {
        return None;
    }
    let started = Instant::now();
    if enforce_limits(&gateway.inner.config, headers).is_some() {
        return None;
    }
    // The warm path answers only this route, so this is the template axum would have matched.
    let route = Route::Known(crate::routes::paths::RESOLVE);
    answer_warm(gateway, method, uri, headers, started, route, memo)
}

/// A warm resolve ([`crate::warm_resolve`]) answered, observed and finalized, or `None` for the
/// router's path. The one place that does it, for [`Edge`] and for the front.
fn answer_warm(
    gateway: &Gateway,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    started: Instant,
    route: Route,
    memo: &mut CallerMemo,
) -> Option<Response> {
    let (response, workspace) =
        crate::warm_resolve::answer(gateway, method, uri, headers, started, memo)?;
    let request_id = RequestId::from_headers(headers).unwrap_or_else(RequestId::generate);
    observe(
        gateway,
        started,
        method.clone(),
        route,
        &request_id,
        &response,
        workspace,
    );
    Some(finalize(response, request_id))
}

/// [`Edge`]'s future: ready for a request answered on the way in ([`crate::warm_resolve`]),
/// else the boxed rest of the request.
pub enum EdgeFuture {
    Ready(std::future::Ready<Result<Response, Infallible>>),
    Boxed(Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>),
}

impl Future for EdgeFuture {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            Self::Ready(ready) => Pin::new(ready).poll(cx),
            Self::Boxed(boxed) => boxed.as_mut().poll(cx),
        }
    }
}

fn is_proxy_route(route: &str) -> bool {
    use crate::routes::paths::{PROXY, PROXY_ROOT, PROXY_ROOT_SLASH};
    route == PROXY || route == PROXY_ROOT || route == PROXY_ROOT_SLASH
}

/// finalize, on the way out: the error envelope and the request id header.
fn finalize(mut response: Response, request_id: RequestId) -> Response {
    if let Some(PendingError(body)) = response.extensions_mut().remove::<PendingError>() {
        write_error_body(&mut response, body, &request_id);
    } else if is_error(response.status())
        && !is_json(&response)
        // A proxied upstream's answer passes as it is.
        && response
            .extensions()
            .get::<crate::routes::proxy::UpstreamAnswer>()
            .is_none()
        && response.extensions().get::<RelayedPage>().is_none()
    {
        let body = envelope_for_plain_error(&response);
        write_error_body(&mut response, body, &request_id);
    }
    response
        .headers_mut()
        .insert(REQUEST_ID_NAME, request_id.into_header_value());
    response
}

/// Marks a response relayed as it is from the broker's browser routes (`/auth/callback`): its
/// HTML error page is for the person's browser and is not rewritten into the JSON envelope.
#[derive(Clone, Copy)]
pub struct RelayedPage;

fn is_error(status: StatusCode) -> bool {
    status.is_client_error() || status.is_server_error()
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"))
}

/// An envelope for an error axum produced on its own (its plain-text body is dropped).
fn envelope_for_plain_error(response: &Response) -> ErrorBody {
    let status = response.status();
    let (code, message) = match status {
        StatusCode::NOT_FOUND => (ErrorCode::NotFound, "no such route".to_owned()),
        StatusCode::METHOD_NOT_ALLOWED => {
            let allowed = response
                .headers()
                .get(header::ALLOW)
                .and_then(|v| v.to_str().ok());
            let message = match allowed {
                Some(allowed) => format!("method not allowed on this route; allowed: {allowed}"),
                None => "method not allowed on this route".to_owned(),
            };
            // Same code as the broker's 405 (not in the protocol's closed set; clients see
            // `ErrorCode::Other`).
            (ErrorCode::Other("method_not_allowed".into()), message)
        }
        StatusCode::PAYLOAD_TOO_LARGE => (
            ErrorCode::PayloadTooLarge,
            "request body too large".to_owned(),
        ),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => (
            ErrorCode::PayloadTooLarge,
            "request headers too large".to_owned(),
        ),
        s if s.is_client_error() => (ErrorCode::InvalidRequest, "invalid request".to_owned()),
        _ => (ErrorCode::InternalError, "internal error".to_owned()),
    };
    ErrorBody::new(code, message)
}

fn write_error_body(response: &mut Response, mut body: ErrorBody, request_id: &RequestId) {
    body.request_id = Some(request_id.as_str().to_owned());
    let bytes =
        serde_json::to_vec(&body).unwrap_or_else(|_| b"{\"error\":\"internal_error\"}".to_vec());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.remove(header::CONTENT_LENGTH);
    *response.body_mut() = Body::from(bytes);
}

/// observe, on the way out: the metrics and the access line.
fn observe(
    gateway: &Gateway,
    started: Instant,
    method: Method,
    route: Route,
    request_id: &RequestId,
    response: &Response,
    workspace: crate::access_log::Workspace,
) {
    let ended = Instant::now();
    let elapsed = ended.saturating_duration_since(started);
    let status = response.status().as_u16();
    gateway
        .inner
        .metrics
        .observe_request(route.as_str(), status, elapsed);
    let latency_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    // Route template only: query strings and headers (which carry keys) are never logged.
    if let Some(log) = &gateway.inner.config.access_log {
        log.log(crate::access_log::Record {
            at: crate::access_log::wall_clock(ended),
            method,
            route,
            status,
            latency_us,
            request_id: Some(request_id.clone()),
            workspace,
        });
    } else {
        tracing::info!(
            target: "nexus_gateway::access",
            request_id = request_id.as_str(),
            method = %method,
            route = route.as_str(),
            status,
            latency_us,
            workspace = workspace.as_str(),
            "request"
        );
    }
}

/// Header size (431) and declared body size (413): the refusal, or `None` to go on.
fn enforce_limits(config: &crate::GatewayConfig, headers: &HeaderMap) -> Option<Response> {
    // Name, value and the ": " and CRLF around them, as on the wire.
    let header_bytes: usize = headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum();
    if header_bytes > config.max_header_bytes {
        return Some(
            ApiError::with_status(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                ErrorCode::PayloadTooLarge,
                format!("request headers exceed {} bytes", config.max_header_bytes),
            )
            .into_response(),
        );
    }
    let declared_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared_length.is_some_and(|len| len > config.max_body_bytes as u64) {
        return Some(body_too_large(config.max_body_bytes).into_response());
    }
    None
}

pub fn body_too_large(limit: usize) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("request body exceeds {limit} bytes"),
    )
}
