//! One connection: dial with a timeout, then serve it (read, write, keepalive, proactive
//! reconnect, cancellation) until it ends.

use super::{BridgeOptions, DisconnectReason, Outgoing, WebSocketHandler, WsMessage, WsSender};
use crate::error::NexusError;
use futures::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The outcome of one connection attempt.
pub(crate) enum Dial {
    Open(Box<Socket>),
    /// The upstream answered the handshake with 401 or 403.
    Rejected(u16),
    /// Anything else (refused, timeout, TLS, another status); the text never has the URL.
    Failed(String),
    Cancelled,
}

pub(crate) async fn dial(
    request: Request,
    options: &BridgeOptions,
    cancel: &CancellationToken,
) -> Dial {
    let config = WebSocketConfig::default()
        .max_message_size(Some(options.max_message_size))
        .max_frame_size(Some(options.max_message_size));
    let connect = tokio_tungstenite::connect_async_with_config(request, Some(config), true);
    tokio::select! {
        biased;
        () = cancel.cancelled() => Dial::Cancelled,
        outcome = tokio::time::timeout(options.handshake_timeout, connect) => match outcome {
            Err(_) => Dial::Failed("the handshake timed out".into()),
            Ok(Ok((socket, _))) => Dial::Open(Box::new(socket)),
            Ok(Err(WsError::Http(response))) => {
                let status = response.status().as_u16();
                if status == 401 || status == 403 {
                    Dial::Rejected(status)
                } else {
                    Dial::Failed(format!("the handshake was answered with HTTP {status}"))
                }
            }
            Ok(Err(error)) => Dial::Failed(describe(&error)),
        },
    }
}

/// A description of a WebSocket error that never contains the URL or a header value.
fn describe(error: &WsError) -> String {
    match error {
        WsError::Io(e) => format!("I/O error: {}", e.kind()),
        WsError::Tls(_) => "TLS error".into(),
        WsError::Capacity(e) => format!("message too large ({e})"),
        WsError::ConnectionClosed | WsError::AlreadyClosed => "connection closed".into(),
        WsError::Protocol(e) => format!("protocol error: {e}"),
        WsError::Url(_) => "unusable URL".into(),
        WsError::Http(r) => format!("HTTP {}", r.status().as_u16()),
        _ => "WebSocket error".into(),
    }
}

/// Serve one open connection until it ends; returns why, and how long it was up.
pub(crate) async fn serve(
    socket: Box<Socket>,
    handler: &Arc<dyn WebSocketHandler>,
    options: &BridgeOptions,
    cancel: &CancellationToken,
    reconnect_after: Option<Duration>,
) -> (DisconnectReason, Duration) {
    let opened = Instant::now();
    let (queue, mut outgoing) = mpsc::channel::<Outgoing>(64);
    handler.on_connect(WsSender { queue });
    let (mut sink, mut stream) = socket.split();
    let mut ping = tokio::time::interval_at(
        tokio::time::Instant::now() + options.ping_interval,
        options.ping_interval,
    );
    // Set when a ping is sent and nothing has arrived since: the pong deadline.
    let mut pong_deadline: Option<tokio::time::Instant> = None;
    let expiring = async {
        match reconnect_after {
            Some(after) => tokio::time::sleep(after).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(expiring);

    let reason = loop {
        let deadline = async {
            match pong_deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            () = cancel.cancelled() => {
                let frame = CloseFrame { code: CloseCode::Normal, reason: "".into() };
                let _ = tokio::time::timeout(options.write_timeout, sink.send(Message::Close(Some(frame)))).await;
                break DisconnectReason::Cancelled;
            }
            () = &mut expiring => {
                let frame = CloseFrame { code: CloseCode::Normal, reason: "credential expiring".into() };
                let _ = tokio::time::timeout(options.write_timeout, sink.send(Message::Close(Some(frame)))).await;
                break DisconnectReason::CredentialExpiring;
            }
            () = deadline => break DisconnectReason::Error("no pong within the ping timeout".into()),
            incoming = stream.next() => match incoming {
                None => break DisconnectReason::Error("the connection ended without a close frame".into()),
                Some(Err(error)) => break DisconnectReason::Error(describe(&error)),
                Some(Ok(message)) => {
                    pong_deadline = None; // any frame proves the peer is alive
                    match message {
                        Message::Text(text) => handler.on_message(WsMessage::Text(text.to_string())),
                        Message::Binary(data) => handler.on_message(WsMessage::Binary(data)),
                        Message::Close(frame) => {
                            let (code, reason) = frame
                                .map(|f| (u16::from(f.code), f.reason.to_string()))
                                .unwrap_or((1005, String::new()));
                            // Finish the close handshake politely; the peer may already be gone.
                            let _ = tokio::time::timeout(options.write_timeout, sink.close()).await;
                            break DisconnectReason::ClosedByPeer { code, reason };
                        }
                        // Pings are answered by tungstenite (on the next write or flush).
                        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {
                            let _ = tokio::time::timeout(options.write_timeout, sink.flush()).await;
                        }
                    }
                }
            },
            Some((message, done)) = outgoing.recv() => {
                let frame = match message {
                    WsMessage::Text(text) => Message::Text(text.into()),
                    WsMessage::Binary(data) => Message::Binary(data),
                };
                match tokio::time::timeout(options.write_timeout, sink.send(frame)).await {
                    Ok(Ok(())) => { let _ = done.send(Ok(())); }
                    Ok(Err(error)) => {
                        let text = describe(&error);
                        let _ = done.send(Err(NexusError::Connect(text.clone())));
                        break DisconnectReason::Error(text);
                    }
                    Err(_) => {
                        let _ = done.send(Err(NexusError::Timeout("the WebSocket write timed out".into())));
                        break DisconnectReason::Error("the write timed out".into());
                    }
                }
            }
            _ = ping.tick() => {
                if pong_deadline.is_none() {
                    pong_deadline = Some(tokio::time::Instant::now() + options.ping_timeout);
                }
                match tokio::time::timeout(options.write_timeout, sink.send(Message::Ping(Default::default()))).await {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => break DisconnectReason::Error(describe(&error)),
                    Err(_) => break DisconnectReason::Error("the write timed out".into()),
                }
            }
        }
    };
    // Senders of this connection fail from now on; queued messages are answered as closed.
    outgoing.close();
    while let Ok((_, done)) = outgoing.try_recv() {
        let _ = done.send(Err(NexusError::Connect(
            "the WebSocket connection is closed".into(),
        )));
    }
    (reason, opened.elapsed())
}
