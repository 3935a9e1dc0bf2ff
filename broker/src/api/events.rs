//! `GET /internal/v1/events`: the revocation stream each gateway holds open (internal token).
//! One JSON [`RevocationEvent`] per line; a heartbeat first (the gateway knows it is connected
//! and flushes what it may have missed) and then every [`HEARTBEAT`]. A subscriber that falls
//! behind the bus is disconnected rather than silently skipped, so it reconnects and flushes.

use super::{AppState, require_internal};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::Response;
use axum::routing::get;
use nexus_protocol::internal::{EVENTS_PATH, RevocationEvent};
use std::time::Duration;
use tokio::sync::broadcast::{Receiver, error::RecvError};
use tokio::sync::watch;
use tokio::time::{Interval, MissedTickBehavior};

pub const HEARTBEAT: Duration = Duration::from_secs(10);

pub fn router(service: AppState) -> Router<AppState> {
    Router::new()
        .route(EVENTS_PATH, get(events))
        .route_layer(axum::middleware::from_fn_with_state(
            service,
            require_internal,
        ))
}

async fn events(State(s): State<AppState>) -> Response {
    // Subscribe before answering: nothing published after the gateway sees the first line is lost.
    let receiver = s.revocations.subscribe();
    let mut ticks = tokio::time::interval(HEARTBEAT);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let state = (receiver, ticks, s.revocations.closing());
    let stream = futures::stream::unfold(state, next_line);
    Response::builder()
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::from_stream(stream))
        .unwrap_or_default()
}

type StreamState = (Receiver<RevocationEvent>, Interval, watch::Receiver<bool>);

async fn next_line(
    (mut receiver, mut ticks, mut closing): StreamState,
) -> Option<(Result<Bytes, std::io::Error>, StreamState)> {
    let event = tokio::select! {
        // The broker is shutting down: end the stream (the gateway reconnects elsewhere/later).
        _ = closing.wait_for(|closed| *closed) => return None,
        // The interval's first tick is immediate: that is the opening heartbeat.
        _ = ticks.tick() => RevocationEvent::Heartbeat,
        received = receiver.recv() => match received {
            Ok(event) => event,
            // Lagged: events were dropped for this subscriber; end the stream so it reconnects
            // and flushes. Closed: the broker is shutting down.
            Err(RecvError::Lagged(_) | RecvError::Closed) => return None,
        },
    };
    let mut line = serde_json::to_vec(&event).ok()?;
    line.push(b'\n');
    Some((Ok(Bytes::from(line)), (receiver, ticks, closing)))
}
