//! The floor of the gateway's warm resolve for `scripts/bench/hot-paths.sh`: a bare axum server
//! answering `GET /v1/resolve` with the bytes the gateway answered (body read from a file),
//! the same `Content-Type` and `Cache-Control`, and an `X-Request-Id` of the same length. No
//! authentication, no cache, no logging: what HTTP and routing alone cost on the machine.
//!
//! ```sh
//! cargo build --release -p nexus-gateway --example bare_resolve
//! target/release/examples/bare_resolve 127.0.0.1:7777 body.json
//! ```

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::routing::get;
use bytes::Bytes;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(body_file)) = (args.next(), args.next()) else {
        return Err("usage: bare_resolve ADDR BODY_FILE".into());
    };
    let body = Bytes::from(std::fs::read(body_file)?);
    let router = Router::new().route(
        "/v1/resolve",
        get(move || {
            let body = body.clone();
            async move {
                (
                    [
                        (
                            header::CONTENT_TYPE,
                            HeaderValue::from_static("application/json"),
                        ),
                        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                        (
                            HeaderName::from_static("x-request-id"),
                            // 32 hex digits, as the gateway's generated ids.
                            HeaderValue::from_static("00000000000000000000000000000000"),
                        ),
                    ],
                    body,
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("bare_resolve listening on {}", listener.local_addr()?);
    axum::serve(listener, router).await?;
    Ok(())
}
