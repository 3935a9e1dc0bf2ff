//! The HTTP/1.1 listener of every Nexus server process (`nexus dev`, `nexus serve`, the standalone
//! `nexus-broker`), hardened against connection
//! exhaustion (`axum::serve` has no limits at all: idle and half-sent connections stayed open for
//! minutes, and enough of them exhausted the process's file descriptors).
//!
//! - **Header timeout**: a connection must deliver a complete request head within
//!   [`Limits::header_timeout`] of being accepted, or of its first byte after an idle pause.
//! - **Idle timeout**: a kept-alive connection with no request for [`Limits::idle_timeout`] is
//!   closed.
//! - **Body timeout**: a request body must arrive within [`Limits::body_timeout`]; otherwise the
//!   answer is `408 request_timeout` (see [`deadline`]).
//! - **Connection caps**, per process (both listeners together) and per client IP. A new
//!   connection over a cap closes the oldest *idle* connection of the same scope (no request in
//!   flight), so a flood of idle connections cannot lock out real clients; when every connection
//!   is busy, the new one is closed at once.
//!
//! Closing is done by dropping hyper's connection, which closes the socket: the client reads EOF.
//!
//! A server may pass a [`Front`] ([`serve_with_front`]): asked first about every request, from
//! its head, it may answer before the router (the gateway's warm resolve); every limit above
//! still applies to its answers.

mod deadline;
mod front;
mod registry;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use registry::{Conn, Registry};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub use front::{ConnectionFront, Front};
pub use registry::Registry as Connections;

/// A `NEXUS_HTTP_*` setting that cannot be used; the message names the variable and the rule,
/// never echoes the value. Callers treat it as a configuration error (exit 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LimitsError(String);

/// Limits of the listeners; every one is a `NEXUS_HTTP_*` setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// `NEXUS_HTTP_HEADER_TIMEOUT_MS`, default 10 s.
    pub header_timeout: Duration,
    /// `NEXUS_HTTP_IDLE_TIMEOUT_MS`, default 60 s.
    pub idle_timeout: Duration,
    /// `NEXUS_HTTP_BODY_TIMEOUT_MS`, default 10 s.
    pub body_timeout: Duration,
    /// `NEXUS_HTTP_MAX_CONNECTIONS`, default 10,000, lowered to what the descriptor limit allows.
    pub max_connections: usize,
    /// `NEXUS_HTTP_MAX_CONNECTIONS_PER_IP`, default 1,000; `0` means no per-IP cap (behind a
    /// proxy every connection comes from the proxy's address).
    pub max_connections_per_ip: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            max_connections_per_ip: 1_000,
        }
    }
}

/// Descriptors kept free for the database pool, outgoing HTTP calls and files.
const RESERVED_DESCRIPTORS: usize = 256;

impl Limits {
    /// The defaults, overridden by `NEXUS_HTTP_*` variables.
    pub fn from_env() -> Result<Self, LimitsError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }

    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, LimitsError> {
        let number = |name: &str| -> Result<Option<u64>, LimitsError> {
            get(name)
                .map(|v| {
                    v.trim()
                        .parse::<u64>()
                        .map_err(|_| LimitsError(format!("{name} must be a non-negative integer")))
                })
                .transpose()
        };
        let millis = |name: &str, default: Duration| -> Result<Duration, LimitsError> {
            match number(name)? {
                Some(0) => Err(LimitsError(format!("{name} must be at least 1"))),
                Some(ms) => Ok(Duration::from_millis(ms)),
                None => Ok(default),
            }
        };
        let defaults = Self::default();
        let max_connections = match number("NEXUS_HTTP_MAX_CONNECTIONS")? {
            Some(0) => {
                return Err(LimitsError(
                    "NEXUS_HTTP_MAX_CONNECTIONS must be at least 1".into(),
                ));
            }
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
            None => defaults.max_connections,
        };
        Ok(Self {
            header_timeout: millis("NEXUS_HTTP_HEADER_TIMEOUT_MS", defaults.header_timeout)?,
            idle_timeout: millis("NEXUS_HTTP_IDLE_TIMEOUT_MS", defaults.idle_timeout)?,
            body_timeout: millis("NEXUS_HTTP_BODY_TIMEOUT_MS", defaults.body_timeout)?,
            max_connections,
            max_connections_per_ip: number("NEXUS_HTTP_MAX_CONNECTIONS_PER_IP")?
                .map_or(defaults.max_connections_per_ip, |n| {
                    usize::try_from(n).unwrap_or(usize::MAX)
                }),
        })
    }

    /// Raise this process's descriptor limit to its hard limit, and keep the connection cap
    /// below what the limit allows (each connection holds one descriptor).
    pub fn fit_descriptor_limit(mut self) -> Self {
        let Some(available) = raise_descriptor_limit() else {
            return self;
        };
        let usable = available.saturating_sub(RESERVED_DESCRIPTORS).max(1);
        if self.max_connections > usable {
            eprintln!(
                "nexus: NEXUS_HTTP_MAX_CONNECTIONS lowered from {} to {usable}: the descriptor limit (ulimit -n) is {available}",
                self.max_connections
            );
            self.max_connections = usable;
        }
        self
    }
}

/// Set the soft `RLIMIT_NOFILE` to the hard limit; returns the resulting soft limit.
fn raise_descriptor_limit() -> Option<usize> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    usize::try_from(limit.rlim_cur).ok()
}

/// Resolves with the signal's name on SIGTERM (what service managers and container runtimes
/// send to stop a process) or SIGINT (Ctrl-C). Every server process stops on these two, then
/// drains: without a SIGTERM handler the process would die at once, mid-request.
pub async fn shutdown_signal() -> io::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => Ok("SIGTERM"),
        _ = int.recv() => Ok("SIGINT"),
    }
}

/// Serve `router` on `listener` until `stop` turns true, then let open requests finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    connections: Arc<Registry>,
    stop: watch::Receiver<bool>,
) -> io::Result<()> {
    serve_with_front(listener, router, None, connections, stop).await
}

/// [`serve`], with `front` asked first about every request (see [`Front`]).
pub async fn serve_with_front(
    listener: TcpListener,
    router: Router,
    front: Option<Front>,
    connections: Arc<Registry>,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|stopped| *stopped) => break,
        };
        while tasks.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of descriptors (or a connection reset before accept): the listener
                // itself is fine; pause briefly rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let Some(conn) = connections.admit(peer.ip()) else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        tasks.spawn(serve_connection(
            stream,
            peer,
            conn,
            router.clone(),
            front.clone(),
            connections.clone(),
            stop.clone(),
        ));
    }
    while tasks.join_next().await.is_some() {}
    Ok(())
}

async fn serve_connection(
    stream: TcpStream,
    peer: std::net::SocketAddr,
    conn: Arc<Conn>,
    router: Router,
    front: Option<Front>,
    connections: Arc<Registry>,
    mut stop: watch::Receiver<bool>,
) {
    let io = TokioIo::new(TrackedStream {
        inner: stream,
        conn: conn.clone(),
    });
    let service_conn = conn.clone();
    let body_timeout = connections.limits().body_timeout;
    // The service is called for one request at a time (HTTP/1.1), so the borrow never clashes.
    let front = front.map(|make| std::cell::RefCell::new(make()));
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let in_flight = service_conn.begin_request();
        let response = match front.as_ref().and_then(|front| {
            (front.borrow_mut())(request.method(), request.uri(), request.headers())
        }) {
            // Answered from the head: the body (if any) is dropped unread, as a handler that
            // does not read it would.
            Some(answer) => Err(answer),
            None => {
                // The peer address, as `axum::serve` would give it: per-source throttles
                // (failed admin tokens) read it through `ConnectInfo`.
                let mut request = request.map(Body::new);
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                Ok(deadline::serve_request(
                    router.clone(),
                    request,
                    body_timeout,
                ))
            }
        };
        async move {
            let response = match response {
                Ok(routed) => routed.await,
                Err(answered) => answered,
            };
            // The request counts as in flight until its response body is dropped (sent).
            Ok::<_, std::convert::Infallible>(
                response.map(|body| Body::new(deadline::Guarded::new(body, in_flight))),
            )
        }
    });
    let http = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, service)
        .with_upgrades();
    tokio::pin!(http);
    let limits = connections.limits().clone();
    let mut draining = false;
    loop {
        let check_at = conn.close_at(&limits).unwrap_or_else(|| {
            tokio::time::Instant::now() + limits.header_timeout.min(limits.idle_timeout)
        });
        tokio::select! {
            _ = http.as_mut() => break,
            _ = tokio::time::sleep_until(check_at) => {
                if conn.close_at(&limits).is_some_and(|at| at <= tokio::time::Instant::now()) {
                    break;
                }
            }
            _ = conn.evicted() => {
                if !conn.in_flight() {
                    break;
                }
                http.as_mut().graceful_shutdown();
            }
            _ = stop.wait_for(|stopped| *stopped), if !draining => {
                draining = true;
                http.as_mut().graceful_shutdown();
            }
        }
    }
    connections.release(&conn);
}

/// The TCP stream, noting when a byte arrives on an idle connection (the header timeout runs
/// from then).
struct TrackedStream {
    inner: TcpStream,
    conn: Arc<Conn>,
}

impl AsyncRead for TrackedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.conn.bytes_arrived();
        }
        polled
    }
}

impl AsyncWrite for TrackedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn settings_are_read_and_checked() {
        assert_eq!(Limits::from_lookup(lookup(&[])).unwrap(), Limits::default());
        let limits = Limits::from_lookup(lookup(&[
            ("NEXUS_HTTP_HEADER_TIMEOUT_MS", "250"),
            ("NEXUS_HTTP_MAX_CONNECTIONS_PER_IP", "0"),
        ]))
        .unwrap();
        assert_eq!(limits.header_timeout, Duration::from_millis(250));
        assert_eq!(limits.max_connections_per_ip, 0);
        for bad in [
            ("NEXUS_HTTP_IDLE_TIMEOUT_MS", "soon"),
            ("NEXUS_HTTP_BODY_TIMEOUT_MS", "0"),
            ("NEXUS_HTTP_MAX_CONNECTIONS", "0"),
        ] {
            let err = Limits::from_lookup(lookup(&[bad])).unwrap_err();
            assert!(err.to_string().contains(bad.0), "{err}");
        }
    }

    #[test]
    fn the_connection_cap_fits_the_descriptor_limit() {
        let limits = Limits {
            max_connections: usize::MAX,
            ..Limits::default()
        }
        .fit_descriptor_limit();
        assert!(limits.max_connections < usize::MAX);
    }
}
