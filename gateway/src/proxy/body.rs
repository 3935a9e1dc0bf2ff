//! Bodies through the proxy, streamed both ways (design 16 §3): the request body is counted and
//! cut off past its limit; the response body is counted, limited, and reports how it ended
//! (for the audit record) when it finishes or is dropped.

use bytes::Bytes;
use futures::{Stream, StreamExt};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};

/// Bytes seen of a request body, and whether it went over its limit.
#[derive(Debug, Default)]
pub struct RequestMeter {
    bytes: AtomicU64,
    over_limit: AtomicBool,
}

impl RequestMeter {
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    pub fn add(&self, bytes: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn over_limit(&self) -> bool {
        self.over_limit.load(Ordering::Relaxed)
    }
}

/// The caller's body as a stream for the upstream request, ending with an error past `limit`
/// bytes (the upstream request then fails and the handler answers 413).
pub fn limited_request(
    body: axum::body::Body,
    limit: u64,
    meter: Arc<RequestMeter>,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    body.into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(std::io::Error::other)?;
        let total =
            meter.bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed) + chunk.len() as u64;
        if total > limit {
            meter.over_limit.store(true, Ordering::Relaxed);
            return Err(std::io::Error::other("request body over the proxy limit"));
        }
        Ok(chunk)
    })
}

/// How a proxied response body ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEnd {
    /// Every byte was sent.
    Complete,
    /// The upstream's body failed mid-stream.
    UpstreamError,
    /// Over the response limit: the stream was cut (the caller sees a reset).
    Truncated,
    /// The caller went away before the end.
    ClientAborted,
}

type Upstream = Pin<Box<dyn Stream<Item = Result<Bytes, reqwest::Error>> + Send>>;
type OnEnd = Box<dyn FnOnce(u64, BodyEnd) + Send>;

/// The upstream's response body, counted; `on_end` runs once with the byte count.
pub struct MeteredResponse {
    inner: Upstream,
    bytes: u64,
    limit: u64,
    /// The upstream's `Content-Length`: the server stops polling once it is sent, so reaching
    /// it is the end.
    expected: Option<u64>,
    on_end: Option<OnEnd>,
}

impl MeteredResponse {
    pub fn new(response: reqwest::Response, limit: u64, on_end: OnEnd) -> Self {
        let expected = response.content_length();
        Self {
            inner: Box::pin(response.bytes_stream()),
            bytes: 0,
            limit,
            expected,
            on_end: Some(on_end),
        }
    }

    fn end(&mut self, how: BodyEnd) {
        if let Some(on_end) = self.on_end.take() {
            on_end(self.bytes, how);
        }
    }
}

impl Stream for MeteredResponse {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.on_end.is_none() {
            return Poll::Ready(None);
        }
        match self.inner.as_mut().poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                self.end(BodyEnd::Complete);
                Poll::Ready(None)
            }
            Poll::Ready(Some(Ok(chunk))) => {
                self.bytes += chunk.len() as u64;
                if self.bytes > self.limit {
                    self.end(BodyEnd::Truncated);
                    return Poll::Ready(Some(Err(std::io::Error::other(
                        "response body over the proxy limit",
                    ))));
                }
                if self.expected == Some(self.bytes) {
                    self.end(BodyEnd::Complete);
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(err))) => {
                self.end(BodyEnd::UpstreamError);
                Poll::Ready(Some(Err(std::io::Error::other(err))))
            }
        }
    }
}

impl Drop for MeteredResponse {
    fn drop(&mut self) {
        // An empty body may never be polled; anything else unfinished was abandoned.
        let how = if self.expected == Some(self.bytes) {
            BodyEnd::Complete
        } else {
            BodyEnd::ClientAborted
        };
        self.end(how);
    }
}
