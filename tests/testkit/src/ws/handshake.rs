//! The WebSocket listener: accept, check the credential of each handshake, echo messages and
//! drop connections on request.

use std::sync::Arc;

use axum::http::StatusCode;
use futures::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{
    ErrorResponse, Request, Response as WsResponse,
};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::{WsAttempt, WsClose, WsShared};

pub(super) async fn accept_loop(listener: TcpListener, shared: Arc<WsShared>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve_connection(stream, shared.clone()));
            }
            Err(error) => tracing::warn!(%error, "ws test server: accept failed"),
        }
    }
}

/// The token of a handshake: the bearer header, else the `access_token` query parameter.
fn presented_token(request: &Request) -> Option<String> {
    if let Some(value) = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        && let Some(token) = value.strip_prefix("Bearer ")
    {
        return Some(token.to_owned());
    }
    let query = request.uri().query()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "access_token")
        .map(|(_, v)| v.into_owned())
}

// The handshake callback's error type is tungstenite's `ErrorResponse` (an HTTP response): its
// size is not ours to choose.
#[allow(clippy::result_large_err)]
async fn serve_connection(stream: TcpStream, shared: Arc<WsShared>) {
    let check = {
        let shared = shared.clone();
        move |request: &Request, response: WsResponse| {
            let token = presented_token(request);
            let accepted = token.as_deref().is_some_and(|t| shared.is_valid(t));
            let at = shared.since_start();
            shared.record(WsAttempt {
                at_ms: at.as_millis() as u64,
                at_us: at.as_micros() as u64,
                token,
                accepted,
                status: if accepted { 101 } else { 401 },
                path: request.uri().path().to_owned(),
            });
            if accepted {
                Ok(response)
            } else {
                let mut rejection = ErrorResponse::new(Some("invalid or expired token".into()));
                *rejection.status_mut() = StatusCode::UNAUTHORIZED;
                Err(rejection)
            }
        }
    };
    let config = WebSocketConfig::default();
    let Ok(mut socket) =
        tokio_tungstenite::accept_hdr_async_with_config(stream, check, Some(config)).await
    else {
        return;
    };
    shared.live.send_modify(|n| *n += 1);
    let mut drops = shared.drop_generation.subscribe();
    drops.mark_unchanged();
    loop {
        tokio::select! {
            _ = drops.changed() => break,
            message = socket.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    if text.as_str() == "drop" || shared.draw_drop() {
                        break;
                    }
                    if socket.send(Message::Text(text)).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Binary(data))) => {
                    if shared.draw_drop() || socket.send(Message::Binary(data)).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) = frame
                        .map(|f| (u16::from(f.code), f.reason.to_string()))
                        .unwrap_or((1005, String::new()));
                    shared.closes.lock().push(WsClose { code, reason });
                    // Answer the close handshake, then end.
                    let _ = socket.close(None).await;
                    break;
                }
                Some(Ok(_)) => {} // ping/pong: tungstenite answers pings itself
                Some(Err(_)) | None => break,
            }
        }
    }
    // Dropping the socket closes TCP without a close frame (a "drop").
    drop(socket);
    shared.live.send_modify(|n| *n = n.saturating_sub(1));
}
