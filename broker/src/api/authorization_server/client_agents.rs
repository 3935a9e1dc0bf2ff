//! Admin API of agent delegation: `PUT /admin/v1/workspaces/{ws}/mcp-clients/{client_id}/agent`
//! binds a registered OAuth client to an agent of the workspace (its tokens then carry `act`),
//! `DELETE` on the same path unbinds it. A document client's id is a URL: percent-encode it
//! as one path segment.

use crate::api::{AppState, JsonBody, admin_caller, require_admin};
use crate::error::ApiError;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::put;
use nexus_protocol::ErrorBody;
use nexus_protocol::WorkspaceId;
use nexus_protocol::oauth::McpClientAgent;

pub fn router(service: AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/admin/v1/workspaces/{ws}/mcp-clients/{client_id}/agent",
            put(bind_agent).delete(unbind_agent),
        )
        .route_layer(axum::middleware::from_fn_with_state(service, require_admin))
}

fn workspace(ws: &str) -> Result<WorkspaceId, ApiError> {
    WorkspaceId::new(ws).map_err(|e| ApiError::invalid(format!("{} {}", e.what(), e.expected())))
}

#[utoipa::path(put, path = "/admin/v1/workspaces/{ws}/mcp-clients/{client_id}/agent", tag = "mcp", security(("admin_token" = [])),
    params(("ws" = String, Path), ("client_id" = String, Path)), request_body = McpClientAgent,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn bind_agent(
    State(s): State<AppState>,
    Path((ws, client_id)): Path<(String, String)>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<McpClientAgent>,
) -> Result<StatusCode, ApiError> {
    let ws = workspace(&ws)?;
    s.vault
        .authorization_server()
        .bind_client_agent(&ws, &client_id, &body.agent_id, &admin_caller(&headers))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/admin/v1/workspaces/{ws}/mcp-clients/{client_id}/agent", tag = "mcp", security(("admin_token" = [])),
    params(("ws" = String, Path), ("client_id" = String, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
async fn unbind_agent(
    State(s): State<AppState>,
    Path((ws, client_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let ws = workspace(&ws)?;
    s.vault
        .authorization_server()
        .unbind_client_agent(&ws, &client_id, &admin_caller(&headers))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(bind_agent, unbind_agent),
    components(schemas(ErrorBody, McpClientAgent))
)]
pub struct McpClientAgentDoc;
