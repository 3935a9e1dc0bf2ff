//! Shared plumbing: bind a loopback listener, serve an axum router on it, stop it on drop.

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The default bind address of every server: loopback, port chosen by the OS.
pub const LOOPBACK_ANY_PORT: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

/// A router being served on a bound address. Dropping it stops the server (open keep-alive
/// connections are closed gracefully, so a dropped server really stops answering).
#[derive(Debug)]
pub(crate) struct RunningServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RunningServer {
    /// Bind first (so the caller learns the real port before any request can arrive), then
    /// serve on a background task. The router is built by `make_router` from the base URL,
    /// because some servers (the OAuth issuer) must know their own URL.
    pub(crate) async fn start(
        addr: SocketAddr,
        make_router: impl FnOnce(&str) -> Router,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let router = make_router(&base_url(addr));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                // Either an explicit stop or the sender being dropped ends the server.
                let _ = stopped.await;
            };
            if let Err(error) = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::warn!(%error, "test server stopped with an error");
            }
        });
        Ok(Self {
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub(crate) fn url(&self) -> String {
        base_url(self.addr)
    }

    /// Stop accepting connections and wait until the server task has finished.
    pub(crate) async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// `http://IP:PORT` with no trailing slash.
pub(crate) fn base_url(addr: SocketAddr) -> String {
    format!("http://{addr}")
}
