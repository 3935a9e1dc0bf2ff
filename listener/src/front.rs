//! The front: a hook asked about every request before it is routed.
//!
//! Why it exists: the gateway's hottest request (a warm `GET /v1/resolve`, issue 20) is
//! answered from its head alone, yet routing it through axum costs more than answering it: the
//! boxed body, the `ConnectInfo` insert, the router's clone and `oneshot`, the route match and
//! its extension inserts. A front sees the head first (method, URI, headers; the body is not
//! read) and may answer at once. Everything the listener guarantees still holds for its answer:
//! the connection's timeouts and caps, and the request counts as in flight until its response
//! is sent.
//!
//! A front is made once per connection ([`Front`] is the factory), so it may remember what the
//! connection's earlier requests established (the gateway remembers who the caller is): a
//! kept-alive connection sends the same credentials again and again.

use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use std::sync::Arc;

/// The front of one connection: the answer to a request from its head, or `None` to route it
/// as usual. Called on the connection's task for every request, one at a time: it must not
/// block, and should decline cheaply.
pub type ConnectionFront = Box<dyn FnMut(&Method, &Uri, &HeaderMap) -> Option<Response> + Send>;

/// Makes the [`ConnectionFront`] of each accepted connection.
pub type Front = Arc<dyn Fn() -> ConnectionFront + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Connections, Limits, serve_with_front};
    use axum::Router;
    use axum::body::{Body, Bytes};
    use http_body::Frame;
    use std::convert::Infallible;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    /// A response body that never ends: its request stays in flight.
    struct Endless;

    impl http_body::Body for Endless {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            Poll::Pending
        }
    }

    /// A server whose front answers `/front` and `/endless`, and declines the rest to a router
    /// that answers `/routed`; at most one connection per client address.
    async fn start() -> (std::net::SocketAddr, tokio::sync::watch::Sender<bool>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new().route("/routed", axum::routing::get(|| async { "routed" }));
        let front: Front = Arc::new(|| {
            // What this connection's front answered so far.
            let mut answered = 0;
            Box::new(move |method: &Method, uri: &Uri, _: &HeaderMap| {
                answered += 1;
                match (method.as_str(), uri.path()) {
                    ("GET", "/front") => {
                        Some(Response::new(Body::from(format!("front {answered}"))))
                    }
                    ("GET", "/endless") => Some(Response::new(Body::new(Endless))),
                    _ => None,
                }
            })
        });
        let connections = Connections::new(Limits {
            max_connections_per_ip: 1,
            ..Limits::default()
        });
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(serve_with_front(
            listener,
            router,
            Some(front),
            connections,
            stopped,
        ));
        (addr, stop)
    }

    /// Sends a GET for `path` and reads until `want` arrives or the server closes (EOF or
    /// reset); what was read.
    async fn get(stream: &mut TcpStream, path: &str, want: &str) -> String {
        let request = format!("GET {path} HTTP/1.1\r\nhost: test\r\n\r\n");
        let mut read = Vec::new();
        if stream.write_all(request.as_bytes()).await.is_err() {
            return String::new();
        }
        let mut buf = [0u8; 1024];
        while !String::from_utf8_lossy(&read).contains(want) {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => read.extend_from_slice(&buf[..n]),
            }
        }
        String::from_utf8_lossy(&read).into_owned()
    }

    #[tokio::test]
    async fn the_front_answers_first_and_declines_to_the_router() {
        let (addr, _stop) = start().await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        // One kept-alive connection: the front's answer, then the router's, then the front's.
        assert!(
            get(&mut stream, "/front", "front 1")
                .await
                .ends_with("front 1")
        );
        assert!(
            get(&mut stream, "/routed", "routed")
                .await
                .ends_with("routed")
        );
        // The same front saw all three requests.
        assert!(
            get(&mut stream, "/front", "front 3")
                .await
                .ends_with("front 3")
        );
    }

    #[tokio::test]
    async fn each_connection_has_a_front_of_its_own() {
        let (addr, _stop) = start().await;
        let mut first = TcpStream::connect(addr).await.unwrap();
        assert!(
            get(&mut first, "/front", "front 1")
                .await
                .ends_with("front 1")
        );
        assert!(
            get(&mut first, "/front", "front 2")
                .await
                .ends_with("front 2")
        );
        drop(first);
        // The cap of one connection per address: wait until the first one is released.
        let mut second = loop {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            let read = get(&mut stream, "/front", "front 1").await;
            if !read.is_empty() {
                assert!(read.ends_with("front 1"), "{read}");
                break stream;
            }
            tokio::task::yield_now().await;
        };
        assert!(
            get(&mut second, "/front", "front 2")
                .await
                .ends_with("front 2")
        );
    }

    #[tokio::test]
    async fn a_front_answer_counts_as_in_flight_until_sent() {
        let (addr, _stop) = start().await;
        let mut busy = TcpStream::connect(addr).await.unwrap();
        let head = get(&mut busy, "/endless", "\r\n\r\n").await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        // Over the per-address cap: an idle connection would be closed for the new one, but
        // this one's answer is still being sent, so the new connection is refused.
        let mut refused = TcpStream::connect(addr).await.unwrap();
        let read = get(&mut refused, "/front", "front").await;
        assert_eq!(read, "", "a busy connection was evicted");
    }
}
