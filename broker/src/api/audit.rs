//! Audit checkpoints and export (admin token): `GET /admin/v1/audit/heads`,
//! `POST /admin/v1/audit/checkpoint/verify`, `GET /admin/v1/audit/export` (JSON lines),
//! `POST /admin/v1/audit/prune` (retention, up to a checkpoint's heads).
//!
//! The checkpoint's signature is checked by whoever holds the operator's public key (the CLI);
//! the broker never holds the checkpoint key, it reports heads and compares them.

use crate::api::{AppState, JsonBody, QueryParams, admin_caller, require_admin};
use crate::error::ApiError;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt;
use nexus_protocol::ErrorBody;
use nexus_protocol::audit::{AuditHeads, AuditPruneReport, AuditPruneRequest, CheckpointVerdict};
use nexus_vault::admin::check_workspace_id;
use serde::Deserialize;

pub fn router(service: AppState) -> Router<AppState> {
    Router::new()
        .route("/admin/v1/audit/heads", get(heads))
        .route("/admin/v1/audit/checkpoint/verify", post(verify_checkpoint))
        .route("/admin/v1/audit/export", get(export))
        .route("/admin/v1/audit/prune", post(prune))
        .route_layer(axum::middleware::from_fn_with_state(service, require_admin))
}

#[utoipa::path(get, path = "/admin/v1/audit/heads", tag = "audit", security(("admin_token" = [])),
    responses((status = 200, description = "Every chain's length and head, verified", body = AuditHeads)))]
async fn heads(State(s): State<AppState>) -> Result<Json<AuditHeads>, ApiError> {
    Ok(Json(s.vault.audit().heads().await?))
}

#[utoipa::path(post, path = "/admin/v1/audit/checkpoint/verify", tag = "audit", security(("admin_token" = [])),
    request_body = AuditHeads,
    responses((status = 200, description = "Whether the chains still hold the checkpoint's heads", body = CheckpointVerdict), (status = 400, body = ErrorBody)))]
async fn verify_checkpoint(
    State(s): State<AppState>,
    JsonBody(checkpoint): JsonBody<AuditHeads>,
) -> Result<Json<CheckpointVerdict>, ApiError> {
    Ok(Json(s.vault.audit().check_checkpoint(&checkpoint).await?))
}

#[utoipa::path(post, path = "/admin/v1/audit/prune", tag = "audit", security(("admin_token" = [])),
    request_body = AuditPruneRequest,
    responses((status = 200, description = "Records up to the checkpoint's heads deleted; each chain now starts at its anchor", body = AuditPruneReport),
        (status = 400, description = "The log does not hold the checkpoint: nothing deleted", body = ErrorBody)))]
async fn prune(
    State(s): State<AppState>,
    headers: HeaderMap,
    JsonBody(request): JsonBody<AuditPruneRequest>,
) -> Result<Json<AuditPruneReport>, ApiError> {
    if let Some(ws) = &request.workspace_id {
        check_workspace_id(ws)?;
    }
    Ok(Json(
        s.vault
            .audit()
            .prune(&request, &admin_caller(&headers))
            .await?,
    ))
}

#[derive(Deserialize)]
struct ExportParams {
    workspace_id: Option<String>,
    after_id: Option<String>,
}

#[utoipa::path(get, path = "/admin/v1/audit/export", tag = "audit", security(("admin_token" = [])),
    params(("workspace_id" = Option<String>, Query), ("after_id" = Option<i64>, Query, description = "Only records with a larger id (resume an export)")),
    responses((status = 200, description = "One audit record (JSON) per line, oldest first", content_type = "application/x-ndjson"), (status = 400, body = ErrorBody)))]
async fn export(
    State(s): State<AppState>,
    QueryParams(p): QueryParams<ExportParams>,
) -> Result<Response, ApiError> {
    let workspace_id = p.workspace_id.filter(|w| !w.is_empty());
    if let Some(ws) = &workspace_id {
        check_workspace_id(ws)?;
    }
    let after_id = match p.after_id.as_deref().filter(|a| !a.is_empty()) {
        None => 0,
        Some(a) => a
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| ApiError::invalid("`after_id` must be a record id (0 or more)"))?,
    };
    // One chunk per page. A failure after the first byte cannot change the status any more:
    // the body is cut off (the client sees an incomplete transfer) and the broker logs why.
    let lines = s
        .vault
        .audit()
        .export_pages(workspace_id, after_id)
        .map(|page| match page {
            Ok(records) => {
                let mut chunk = Vec::new();
                for record in &records {
                    serde_json::to_writer(&mut chunk, record)
                        .unwrap_or_else(|_| unreachable!("an audit record always serializes"));
                    chunk.push(b'\n');
                }
                Ok(Bytes::from(chunk))
            }
            Err(e) => {
                tracing::error!(error = %e, "audit export stopped");
                Err(std::io::Error::other("audit export stopped"))
            }
        });
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(lines),
    )
        .into_response())
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(heads, verify_checkpoint, export, prune),
    components(schemas(ErrorBody)),
    tags((name = "audit", description = "Audit checkpoints and JSON-lines export"))
)]
pub struct AuditApiDoc;
