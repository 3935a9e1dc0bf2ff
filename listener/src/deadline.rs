//! Request bodies that stop arriving: answered `408 request_timeout` after the body timeout,
//! instead of holding the connection until a handler's deadline (a 504 after 30 s).

use super::registry::InFlight;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body::{Frame, SizeHint};
use nexus_protocol::{ErrorBody, ErrorCode};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tower::ServiceExt;

const REQUEST_ID: &str = "x-request-id";

/// `request` answered by `router`, its body bounded in time. Called by the connection's
/// service itself rather than layered onto the router as middleware: a layer would cost every
/// request of every route a boxed service and boxed futures, for the bodiless majority too.
pub async fn serve_request(router: Router, request: Request, timeout: Duration) -> Response {
    if http_body::Body::size_hint(request.body()).exact() == Some(0) {
        return router.oneshot(request).await.unwrap_or_else(|e| match e {});
    }
    let expired = Arc::new(AtomicBool::new(false));
    let flag = expired.clone();
    let request = request.map(|inner| {
        Body::new(DeadlineBody {
            inner,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            expired: flag,
        })
    });
    let response = router.oneshot(request).await.unwrap_or_else(|e| match e {});
    if !expired.load(Ordering::Acquire) {
        return response;
    }
    let request_id = response.headers().get(REQUEST_ID).cloned();
    let mut body = ErrorBody::new(
        ErrorCode::RequestTimeout,
        format!(
            "the request body did not arrive within {} ms",
            timeout.as_millis()
        ),
    );
    body.request_id = request_id
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut timed_out = (StatusCode::REQUEST_TIMEOUT, axum::Json(body)).into_response();
    let headers = timed_out.headers_mut();
    // The rest of the body may still come: do not read it as the next request.
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    if let Some(id) = request_id {
        headers.insert(REQUEST_ID, id);
    }
    timed_out
}

/// A request body that fails once its deadline passes, and says so through `expired`.
struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<tokio::time::Sleep>>,
    expired: Arc<AtomicBool>,
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending if this.deadline.as_mut().poll(cx).is_ready() => {
                this.expired.store(true, Ordering::Release);
                Poll::Ready(Some(Err(axum::Error::new("the request body timed out"))))
            }
            polled => polled,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that keeps its request counted as in flight until it is dropped.
pub struct Guarded {
    inner: Body,
    _in_flight: InFlight,
}

impl Guarded {
    pub fn new(inner: Body, in_flight: InFlight) -> Self {
        Self {
            inner,
            _in_flight: in_flight,
        }
    }
}

impl http_body::Body for Guarded {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
