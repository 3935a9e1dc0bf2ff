//! A loopback address that refuses every connection for as long as the test holds it.
//!
//! The tempting way to get "a port nothing listens on" is to bind a listener, read its port and
//! drop it. That port is free again at once, and tests run in parallel threads of one process:
//! the next test server to bind `127.0.0.1:0` can be handed the very same port. The test that
//! expected refusals then talks to a stranger's server, and the stranger sees connections it
//! never made (CI saw a WebSocket bridge test fail that way: two "stale tokens" on its server
//! came from another test's bridge retrying its dead URL).
//!
//! [`RefusingPort`] keeps the port bound but never listens on it. Linux answers a connection to
//! a bound, non-listening TCP port with a reset, so a client gets "connection refused" at once;
//! and because the socket is bound without `SO_REUSEADDR`, no other socket (the test servers'
//! listeners included) can bind that port until the guard is dropped.

use std::net::SocketAddr;

use crate::LOOPBACK_ANY_PORT;

/// A loopback port held bound and never listened on: connections to it are refused, and nobody
/// else can take it over while this value lives. Keep it alive for as long as the test uses
/// the address.
#[derive(Debug)]
pub struct RefusingPort {
    addr: SocketAddr,
    // Held only so the port stays reserved; dropping it releases the port.
    _socket: tokio::net::TcpSocket,
}

impl RefusingPort {
    /// Reserve a fresh loopback port. Panics if the OS cannot give one (a test-setup failure).
    pub fn new() -> Self {
        let socket = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
        // No SO_REUSEADDR: that is what keeps every other bind off this port.
        socket
            .bind(LOOPBACK_ANY_PORT)
            .expect("bind a loopback port");
        let addr = socket.local_addr().expect("the bound address");
        Self {
            addr,
            _socket: socket,
        }
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>` (no trailing slash).
    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `ws://127.0.0.1:<port>` (no trailing slash).
    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.addr)
    }
}

impl Default for RefusingPort {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connections_are_refused_and_the_port_cannot_be_taken() {
        let port = RefusingPort::new();
        let error = tokio::net::TcpStream::connect(port.addr())
            .await
            .expect_err("nothing accepts on a refusing port");
        assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);
        // The test servers bind with tokio's listener (SO_REUSEADDR on): even so, the port
        // stays ours. Dropping the guard is what frees it.
        assert!(tokio::net::TcpListener::bind(port.addr()).await.is_err());
        let addr = port.addr();
        drop(port);
        tokio::net::TcpListener::bind(addr)
            .await
            .expect("the port is free once the guard is gone");
    }
}
