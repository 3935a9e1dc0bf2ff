//! `bench_resolve floor`: the floor of a durable cold resolve on PostgreSQL, in the same harness.
//!
//! What a cold resolve cannot do without: read the connection (with its provider) by key, and
//! make a record durable before answering. So the floor is a bare axum route on the same
//! database, reached by the same load client at the same concurrency, that runs exactly the
//! broker's lookup statement (one round trip per request) and queues one audit row to a
//! group-commit writer (one multi-row `INSERT` per batch of waiting requests, autocommit, into
//! the same `audit_events` table with its indexes) and answers the bytes the broker answered
//! once the row is committed. No auth, no JSON parsing, no decryption, no hash chain (no head
//! row), sqlx's typed PostgreSQL driver instead of `Any`, one prepared statement per query.
//!
//! No pool either: sqlx's pool pings a connection when it hands it out and when it takes it
//! back (two round trips more per query), which the broker's lookup no longer pays
//! (`vault/src/store/connections/pg_lookup.rs`). So, like the broker, lookups pass the lookup
//! gate (`NEXUS_DATABASE_LOOKUP_SLOTS`, else its default), each takes a connection of its own
//! from a stack of idle ones (a new one when the stack is empty: at most one per slot) and puts
//! it back without a ping; the audit writer keeps one connection.

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use nexus_vault::connections::lookup_gate::LookupGate;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// The broker's cap of records per group commit holding a single append.
const MAX_BATCH: usize = 256;

type BoxError = Box<dyn std::error::Error>;
type Ack = oneshot::Sender<Result<(), String>>;

struct Floor {
    options: PgConnectOptions,
    gate: LookupGate,
    /// Lookup connections between two lookups.
    idle: Mutex<Vec<PgConnection>>,
    lookup: String,
    audit: mpsc::UnboundedSender<Ack>,
    answer: Bytes,
}

/// Serve the floor route `POST /internal/v1/resolve` on a new loopback listener; returns its
/// base URL. `answer` is the body the broker gave for the same request.
pub async fn start(database_url: &str, answer: Bytes) -> Result<String, BoxError> {
    let options: PgConnectOptions = database_url.parse()?;
    let writer = PgConnection::connect_with(&options).await?;
    // The broker's statement (`Store::find_connection_for`), columns and all.
    let lookup =
        "SELECT c.*, p.id AS p_id, p.spec AS p_spec, p.client_secret IS NOT NULL AS p_has_secret, \
         p.created_at AS p_created_at, p.updated_at AS p_updated_at \
         FROM connections c LEFT JOIN providers p ON p.name = c.provider_name \
         WHERE c.workspace_id = $1 AND c.provider_name = $2 AND c.status <> 'revoked' \
         AND c.owner_kind IS NULL \
         ORDER BY CASE WHEN c.status = 'active' THEN 0 ELSE 1 END, c.updated_at DESC, c.id LIMIT 1"
            .to_owned();
    let (audit, queue) = mpsc::unbounded_channel();
    tokio::spawn(write_audit(writer, queue));
    let state = Arc::new(Floor {
        options,
        gate: LookupGate::configured(
            std::env::var("NEXUS_DATABASE_LOOKUP_SLOTS")
                .ok()
                .and_then(|n| n.parse().ok()),
        ),
        idle: Mutex::default(),
        lookup,
        audit,
        answer,
    });
    let router = axum::Router::new()
        .route("/internal/v1/resolve", post(resolve))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(url)
}

async fn resolve(State(floor): State<Arc<Floor>>) -> Result<Bytes, axum::http::StatusCode> {
    const FAIL: axum::http::StatusCode = axum::http::StatusCode::INTERNAL_SERVER_ERROR;
    floor
        .gate
        .run(async {
            let kept = floor.idle.lock().map_err(|_| FAIL)?.pop();
            let mut conn = match kept {
                Some(conn) => conn,
                None => PgConnection::connect_with(&floor.options)
                    .await
                    .map_err(|_| FAIL)?,
            };
            sqlx::query(sqlx::AssertSqlSafe(floor.lookup.as_str()))
                .bind("w1")
                .bind("bench")
                .fetch_one(&mut conn)
                .await
                .map_err(|_| FAIL)?;
            floor.idle.lock().map_err(|_| FAIL)?.push(conn);
            Ok::<(), axum::http::StatusCode>(())
        })
        .await?;
    let (done, committed) = oneshot::channel();
    floor.audit.send(done).map_err(|_| FAIL)?;
    match committed.await {
        Ok(Ok(())) => Ok(floor.answer.clone()),
        _ => Err(FAIL),
    }
}

/// The group-commit writer: everything queued while the previous batch was written goes into
/// the next one (the broker's cadence), one statement, then every waiter of it is released.
async fn write_audit(mut conn: PgConnection, mut queue: mpsc::UnboundedReceiver<Ack>) {
    let mut seq: i64 = 0;
    while let Some(first) = queue.recv().await {
        let mut waiters = vec![first];
        while waiters.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(w) => waiters.push(w),
                Err(_) => break,
            }
        }
        let n = waiters.len();
        let at = now_ms();
        // Rows of the broker's size: 64-hex hashes and a unique request id.
        let ids: Vec<String> = (0..n)
            .map(|i| format!("floor-{}-{}", std::process::id(), seq + i as i64))
            .collect();
        let hashes: Vec<String> = (0..n).map(|i| format!("{:064x}", seq + i as i64)).collect();
        seq += n as i64;
        let outcome = sqlx::query(
            "INSERT INTO audit_events (at, workspace_id, action, target, principal, outcome, \
             request_id, prev_hash, hash, chain, mac_key) \
             SELECT $1, 'w1', 'token.issued', 'bench', 'api_key:k', 'ok', r, h, h, 'floor', 'k1' \
             FROM unnest($2::text[], $3::text[]) AS u(r, h)",
        )
        .bind(at)
        .bind(&ids)
        .bind(&hashes)
        .execute(&mut conn)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string());
        for w in waiters {
            let _ = w.send(outcome.clone());
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
