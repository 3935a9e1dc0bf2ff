//! Running HTTP services in this process: binding listeners with clear errors, serving routers
//! until a shutdown signal, and waiting for SIGINT/SIGTERM. Shared by `nexus dev` and
//! `nexus serve`.

use crate::error::{CliError, CliResult};
use axum::Router;
use nexus_listener::{self as listener, Connections, Limits};
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How long in-flight requests get to finish after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Bind `addr` for `service` ("gateway"/"broker"); `flag` names the option that changes it.
pub async fn bind(addr: SocketAddr, service: &str, flag: &str) -> CliResult<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| match e.kind() {
        ErrorKind::AddrInUse => CliError::config(format!(
            "cannot start the {service}: {addr} is already in use (another `nexus dev`?); stop that process or pick another address with {flag} HOST:PORT (port 0 picks a free one)"
        )),
        ErrorKind::AddrNotAvailable => CliError::config(format!(
            "cannot start the {service}: {addr} is not an address of this machine; use e.g. {flag} 127.0.0.1:{}",
            addr.port()
        )),
        ErrorKind::PermissionDenied => CliError::config(format!(
            "cannot start the {service}: no permission to listen on {addr} (ports below 1024 need privileges); pick another with {flag}"
        )),
        _ => CliError::config(format!("cannot start the {service} on {addr}: {e}")),
    })
}

/// The listener limits from `NEXUS_HTTP_*`, with the connection cap fitted to the descriptor
/// limit (raised to its hard limit first).
pub fn listener_limits() -> CliResult<Limits> {
    let limits = Limits::from_env().map_err(|e| CliError::config(e.to_string()))?;
    Ok(limits.fit_descriptor_limit())
}

/// The URL clients use to reach a listener: an unspecified bind address (`0.0.0.0`, `::`)
/// is reached through loopback.
pub fn local_url(addr: SocketAddr) -> String {
    let ip = if addr.ip().is_unspecified() {
        match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        }
    } else {
        addr.ip()
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// Services running in this process, all stopped together.
pub struct Services {
    tasks: JoinSet<(String, std::io::Result<()>)>,
    stop: watch::Sender<bool>,
    /// The connections of every listener (they share the descriptor limit).
    connections: Arc<Connections>,
    /// The broker of this process, flushed once its requests have drained.
    broker: Option<nexus_broker::Broker>,
}

impl Services {
    pub fn new(limits: Limits) -> Self {
        let (stop, _) = watch::channel(false);
        Self {
            tasks: JoinSet::new(),
            stop,
            connections: Connections::new(limits),
            broker: None,
        }
    }

    /// Serve `router` on `listener` until [`Services::shutdown`], within the listener limits.
    pub fn spawn(&mut self, name: &str, listener: TcpListener, router: Router) {
        self.spawn_with_front(name, listener, router, None);
    }

    /// Serve `gateway` on `listener` (as [`Services::spawn`]), its warm resolve answered by its
    /// front before routing.
    pub fn spawn_gateway(&mut self, listener: TcpListener, gateway: &nexus_gateway::Gateway) {
        let front: listener::Front = Arc::new(gateway.front());
        self.spawn_with_front("gateway", listener, gateway.router(), Some(front));
    }

    /// Serve `broker` on `listener` (as [`Services::spawn`]). A stop ends the gateways'
    /// revocation streams first (they never finish on their own) and, once requests have
    /// drained, lets the broker write what it still holds (usage not yet recorded).
    pub fn spawn_broker(&mut self, listener: TcpListener, broker: &nexus_broker::Broker) {
        self.spawn("broker", listener, broker.router());
        let streams = broker.clone();
        self.on_stop(move || streams.close_event_streams());
        self.broker = Some(broker.clone());
    }

    fn spawn_with_front(
        &mut self,
        name: &str,
        listener: TcpListener,
        router: Router,
        front: Option<listener::Front>,
    ) {
        let stop = self.stop.subscribe();
        let name = name.to_owned();
        let connections = self.connections.clone();
        self.tasks.spawn(async move {
            let result =
                listener::serve_with_front(listener, router, front, connections, stop).await;
            (name, result)
        });
    }

    /// Call `f` when the services are asked to stop, before they drain (e.g. to end
    /// long-lived streams that would otherwise hold the drain up).
    pub fn on_stop(&mut self, f: impl FnOnce() + Send + 'static) {
        let mut stop = self.stop.subscribe();
        tokio::spawn(async move {
            if stop.wait_for(|stopped| *stopped).await.is_ok() {
                f();
            }
        });
    }

    /// Run until SIGINT/SIGTERM, or until a service stops on its own (an error).
    pub async fn run_until_signal(mut self) -> CliResult<()> {
        let outcome = tokio::select! {
            signal = listener::shutdown_signal() => {
                match signal {
                    Ok(name) => eprintln!("nexus: {name} received, shutting down"),
                    Err(e) => eprintln!("nexus: cannot listen for signals ({e}), shutting down"),
                }
                Ok(())
            }
            Some(ended) = self.tasks.join_next() => Err(match ended {
                Ok((name, Ok(()))) => CliError::runtime(format!("the {name} stopped unexpectedly")),
                Ok((name, Err(e))) => CliError::runtime(format!("the {name} failed: {e}")),
                Err(e) => CliError::runtime(format!("a service crashed: {e}")),
            }),
        };
        self.shutdown().await;
        outcome
    }

    /// Ask every service to stop and wait (bounded) for in-flight requests to drain.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        let drain = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(DRAIN_TIMEOUT, drain).await.is_err() {
            eprintln!("nexus: requests still running after {DRAIN_TIMEOUT:?}; stopping anyway");
            self.tasks.abort_all();
            // Aborted requests end at their next await; wait for that, so none of them can
            // queue a use after the flush below has taken the queue.
            while self.tasks.join_next().await.is_some() {}
        }
        if let Some(broker) = self.broker.take() {
            broker.flush().await;
        }
    }
}

/// Poll `url` until it answers any HTTP response, or fail after `deadline`.
pub async fn wait_until_serving(url: &str, deadline: Duration) -> CliResult<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| CliError::runtime(format!("cannot set up the HTTP client: {e}")))?;
    let give_up = tokio::time::Instant::now() + deadline;
    loop {
        match client.get(url).send().await {
            Ok(_) => return Ok(()),
            Err(e) if tokio::time::Instant::now() >= give_up => {
                return Err(CliError::runtime(format!("{url} is not answering: {e}")));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_addresses_are_reached_through_loopback() {
        assert_eq!(
            local_url("0.0.0.0:8080".parse().unwrap()),
            "http://127.0.0.1:8080"
        );
        assert_eq!(local_url("[::]:81".parse().unwrap()), "http://[::1]:81");
        assert_eq!(
            local_url("10.0.0.5:1".parse().unwrap()),
            "http://10.0.0.5:1"
        );
    }

    #[tokio::test]
    async fn a_port_in_use_is_a_config_error_that_names_the_flag() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let err = bind(taken.local_addr().unwrap(), "gateway", "--gateway-addr")
            .await
            .unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("--gateway-addr"), "{err}");
    }

    #[tokio::test]
    async fn services_stop_on_shutdown_and_free_their_port() {
        let listener = bind("127.0.0.1:0".parse().unwrap(), "test", "--x")
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let mut services = Services::new(Limits::default());
        services.spawn(
            "test",
            listener,
            Router::new().route("/", axum::routing::get(|| async { "ok" })),
        );
        wait_until_serving(&format!("http://{addr}/"), Duration::from_secs(5))
            .await
            .unwrap();
        services.shutdown().await;
        // The port is free again once the service stopped.
        std::net::TcpListener::bind(addr).unwrap();
    }
}
