//! What the echo server answers, by path, once a request has passed the credential gate.

use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::EchoResponse;

/// Longest delay `/delay/{ms}` honours, so a typo cannot hang a test run.
const MAX_DELAY: Duration = Duration::from_secs(300);

pub(super) async fn respond(described: &EchoResponse) -> Response {
    let path = described.path.as_str();
    if let Some(code) = path.strip_prefix("/status/") {
        return status_response(code, described);
    }
    if let Some(millis) = path.strip_prefix("/delay/") {
        return delayed_response(millis, described).await;
    }
    match path {
        "/garbage" => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            Bytes::from_static(b"\x00\xffnot json{{"),
        )
            .into_response(),
        "/stream" => stream_response(described),
        _ => Json(described).into_response(),
    }
}

fn status_response(code: &str, described: &EchoResponse) -> Response {
    let status = code
        .parse::<u16>()
        .ok()
        .and_then(|c| StatusCode::from_u16(c).ok());
    match status {
        Some(status) if (200..=599).contains(&status.as_u16()) => {
            if status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
                status.into_response()
            } else {
                (status, Json(described)).into_response()
            }
        }
        _ => bad_path("use /status/NNN with 200 <= NNN <= 599"),
    }
}

/// Wait, then echo: for client timeout tests.
async fn delayed_response(millis: &str, described: &EchoResponse) -> Response {
    let Ok(millis) = millis.parse::<u64>() else {
        return bad_path("use /delay/MILLISECONDS");
    };
    tokio::time::sleep(Duration::from_millis(millis).min(MAX_DELAY)).await;
    Json(described).into_response()
}

/// Several body pieces, each flushed separately, so clients see a genuinely chunked stream.
fn stream_response(described: &EchoResponse) -> Response {
    let chunks = described
        .query
        .get("chunks")
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(5)
        .min(1000);
    let pieces = futures::stream::unfold(0u32, move |i| async move {
        if i >= chunks {
            return None;
        }
        if i > 0 {
            // Space the pieces so they leave as separate chunks rather than one coalesced write.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let piece = Bytes::from(format!("chunk {i}\n"));
        Some((Ok::<_, std::convert::Infallible>(piece), i + 1))
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain")],
        Body::from_stream(pieces),
    )
        .into_response()
}

fn bad_path(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": "invalid_path", "message": message })),
    )
        .into_response()
}
