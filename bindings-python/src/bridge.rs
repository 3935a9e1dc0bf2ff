//! `WebSocketBridge`: the core's bridged WebSocket (`nexus_sdk::bridge`) seen from Python.
//!
//! Thin: reconnects, backoff, refresh and keepalive are the core's. The core's handler pushes
//! events into a channel; Python pulls them with `next_event` (GIL released while waiting, like
//! every other blocking call), and the `async` API in `nexus_sdk/bridge.py` runs that pull on a
//! worker thread. Events are tuples: `("connected",)`, `("message", str | bytes)`,
//! `("disconnected", kind, code, reason)`; `None` means "nothing yet"; once the bridge has
//! stopped, `next_event` returns `("stopped",)` or raises the terminal `NexusError`.

use crate::cache::TokenCache;
use crate::client::Client;
use crate::errors::invalid_input;
use crate::runtime::wait;
use nexus_sdk::bridge::{
    Bridge, BridgeHandle, BridgeOptions, DisconnectReason, WebSocketHandler, WsMessage, WsSender,
};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};
use std::sync::Arc;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::mpsc;

/// One event for Python (converted under the GIL in `next_event`).
enum Event {
    Connected,
    Message(WsMessage),
    Disconnected(DisconnectReason),
    /// The bridge stopped: `None` after a cancellation, else its terminal error.
    Stopped(Option<nexus_sdk::NexusError>),
}

/// Forwards the core's callbacks into the channel and keeps the current connection's sender.
struct Forward {
    events: mpsc::UnboundedSender<Event>,
    sender: Arc<Mutex<Option<WsSender>>>,
}

impl WebSocketHandler for Forward {
    fn on_connect(&self, sender: WsSender) {
        *lock(&self.sender) = Some(sender);
        let _ = self.events.send(Event::Connected);
    }
    fn on_message(&self, message: WsMessage) {
        let _ = self.events.send(Event::Message(message));
    }
    fn on_disconnect(&self, reason: DisconnectReason) {
        *lock(&self.sender) = None;
        let _ = self.events.send(Event::Disconnected(reason));
    }
}

/// A bridged WebSocket. Created by `open_websocket`; stop it with `close()`.
#[pyclass(module = "nexus_sdk._native", name = "WebSocketBridge", frozen)]
pub struct WebSocketBridge {
    events: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Event>>>,
    sender: Arc<Mutex<Option<WsSender>>>,
    running: Mutex<Option<Running>>,
}

/// How to stop the core's bridge, and the task that reports its end into the event channel.
struct Running {
    cancel: Box<dyn Fn() + Send + Sync>,
    done: tokio::task::JoinHandle<()>,
}

/// A poisoned lock only means another thread panicked while holding it; the data (an
/// `Option`) is still consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn seconds(value: Option<f64>, what: &str) -> PyResult<Option<Duration>> {
    value
        .map(|v| {
            Duration::try_from_secs_f64(v).map_err(|_| {
                invalid_input(format!("{what} must be a finite number of seconds >= 0"))
            })
        })
        .transpose()
}

/// Start bridging `url` with the credential of (`workspace_id`, `provider_name`).
#[pyfunction]
#[pyo3(signature = (client, cache, workspace_id, provider_name, url, *, min_backoff = None,
    max_backoff = None, stable_after = None, ping_interval = None, ping_timeout = None,
    max_message_size = None, write_timeout = None, reconnect_before_expiry = false,
    expiry_margin = None, headers = None))]
#[allow(clippy::too_many_arguments)]
pub fn open_websocket(
    py: Python<'_>,
    client: &Client,
    cache: &TokenCache,
    workspace_id: &str,
    provider_name: &str,
    url: &str,
    min_backoff: Option<f64>,
    max_backoff: Option<f64>,
    stable_after: Option<f64>,
    ping_interval: Option<f64>,
    ping_timeout: Option<f64>,
    max_message_size: Option<usize>,
    write_timeout: Option<f64>,
    reconnect_before_expiry: bool,
    expiry_margin: Option<f64>,
    headers: Option<Vec<(String, String)>>,
) -> PyResult<WebSocketBridge> {
    let mut options = BridgeOptions::default();
    let set = |target: &mut Duration, value: Option<f64>, what: &str| -> PyResult<()> {
        if let Some(d) = seconds(value, what)? {
            *target = d;
        }
        Ok(())
    };
    set(&mut options.min_backoff, min_backoff, "min_backoff")?;
    set(&mut options.max_backoff, max_backoff, "max_backoff")?;
    set(&mut options.stable_after, stable_after, "stable_after")?;
    set(&mut options.ping_interval, ping_interval, "ping_interval")?;
    set(&mut options.ping_timeout, ping_timeout, "ping_timeout")?;
    set(&mut options.write_timeout, write_timeout, "write_timeout")?;
    set(&mut options.expiry_margin, expiry_margin, "expiry_margin")?;
    if options.min_backoff.is_zero() || options.ping_interval.is_zero() {
        return Err(invalid_input(
            "min_backoff and ping_interval must be greater than 0",
        ));
    }
    if let Some(limit) = max_message_size {
        options.max_message_size = limit;
    }
    options.reconnect_before_expiry = reconnect_before_expiry;
    options.headers = headers.unwrap_or_default();

    let (tx, rx) = mpsc::unbounded_channel();
    let sender = Arc::new(Mutex::new(None));
    let handler = Arc::new(Forward {
        events: tx.clone(),
        sender: sender.clone(),
    });
    let bridge = Bridge::new(client.core()?, cache.core.clone());
    let (ws, provider, url) = (
        workspace_id.to_owned(),
        provider_name.to_owned(),
        url.to_owned(),
    );
    // Spawned from inside the binding's runtime, where `maintain_websocket` must run.
    let running = wait(py, async move {
        let handle: BridgeHandle =
            bridge.maintain_websocket(&ws, &provider, &url, handler, options);
        let token = handle.cancellation_token();
        let done = tokio::spawn(async move {
            let result = handle.join().await;
            let _ = tx.send(Event::Stopped(result.err()));
        });
        Ok(Running {
            cancel: Box::new(move || token.cancel()),
            done,
        })
    })?;
    Ok(WebSocketBridge {
        events: Arc::new(tokio::sync::Mutex::new(rx)),
        sender,
        running: Mutex::new(Some(running)),
    })
}

#[pymethods]
impl WebSocketBridge {
    /// The next event, waiting at most `timeout` seconds (`None` when none arrived).
    #[pyo3(signature = (timeout = 0.25))]
    fn next_event<'py>(
        &self,
        py: Python<'py>,
        timeout: f64,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let limit = seconds(Some(timeout), "timeout")?.unwrap_or_default();
        let events = self.events.clone();
        let event = wait(py, async move {
            let mut events = events.lock().await;
            Ok(tokio::time::timeout(limit, events.recv())
                .await
                .ok()
                .flatten())
        })?;
        let Some(event) = event else {
            return Ok(None);
        };
        let tuple = match event {
            Event::Connected => PyTuple::new(py, ["connected"])?.into_any(),
            Event::Message(WsMessage::Text(text)) => {
                ("message", text).into_pyobject(py)?.into_any()
            }
            Event::Message(WsMessage::Binary(data)) => ("message", PyBytes::new(py, &data))
                .into_pyobject(py)?
                .into_any(),
            Event::Disconnected(reason) => {
                let (code, text) = match &reason {
                    DisconnectReason::ClosedByPeer { code, reason } => {
                        (Some(*code), reason.clone())
                    }
                    DisconnectReason::Error(text) => (None, text.clone()),
                    _ => (None, String::new()),
                };
                ("disconnected", reason.kind(), code, text)
                    .into_pyobject(py)?
                    .into_any()
            }
            Event::Stopped(None) => PyTuple::new(py, ["stopped"])?.into_any(),
            Event::Stopped(Some(error)) => return Err(crate::errors::to_py_err(error)),
        };
        Ok(Some(tuple))
    }

    /// Send a text (`str`) or binary (`bytes`) message on the current connection; raises
    /// `TransportError` when there is none.
    fn send(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let message = if let Ok(text) = data.extract::<String>() {
            WsMessage::Text(text)
        } else if let Ok(bytes) = data.extract::<Vec<u8>>() {
            WsMessage::Binary(bytes.into())
        } else {
            return Err(invalid_input("send() takes str or bytes"));
        };
        let sender = lock(&self.sender).clone().ok_or_else(|| {
            crate::errors::to_py_err(nexus_sdk::NexusError::Connect(
                "the WebSocket is not connected".into(),
            ))
        })?;
        wait(py, async move { sender.send(message).await })
    }

    /// Whether a connection is open now.
    #[getter]
    fn connected(&self) -> bool {
        lock(&self.sender).as_ref().is_some_and(|s| !s.is_closed())
    }

    /// Close the socket with a normal close frame and stop the bridge; waits until it has.
    /// Idempotent.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let Some(running) = lock(&self.running).take() else {
            return Ok(());
        };
        (running.cancel)();
        wait(py, async move {
            let _ = running.done.await;
            Ok(())
        })
    }
}
