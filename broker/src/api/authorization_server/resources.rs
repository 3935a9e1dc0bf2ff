//! Admin API of MCP resources: `/admin/v1/workspaces/{ws}/mcp-resources` (list, add) and
//! `…/{id}/disable`. A resource is the URL of a remote MCP server that the authorization
//! server mints tokens for; the workspace of every token comes from it.

use crate::api::{AppState, JsonBody, require_admin};
use crate::error::ApiError;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use nexus_protocol::ErrorBody;
use nexus_protocol::WorkspaceId;
use nexus_protocol::oauth::{McpResource, NewMcpResource};

pub fn router(service: AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/admin/v1/workspaces/{ws}/mcp-resources",
            get(list_resources).post(add_resource),
        )
        .route(
            "/admin/v1/workspaces/{ws}/mcp-resources/{id}/disable",
            post(disable_resource),
        )
        .route_layer(axum::middleware::from_fn_with_state(service, require_admin))
}

fn workspace(ws: &str) -> Result<WorkspaceId, ApiError> {
    WorkspaceId::new(ws).map_err(|e| ApiError::invalid(format!("{} {}", e.what(), e.expected())))
}

#[utoipa::path(post, path = "/admin/v1/workspaces/{ws}/mcp-resources", tag = "mcp", security(("admin_token" = [])),
    params(("ws" = String, Path)), request_body = NewMcpResource,
    responses((status = 201, body = McpResource), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn add_resource(
    State(s): State<AppState>,
    Path(ws): Path<String>,
    JsonBody(body): JsonBody<NewMcpResource>,
) -> Result<impl IntoResponse, ApiError> {
    let ws = workspace(&ws)?;
    let created = s
        .vault
        .authorization_server()
        .add_resource(&ws, body)
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[utoipa::path(get, path = "/admin/v1/workspaces/{ws}/mcp-resources", tag = "mcp", security(("admin_token" = [])),
    params(("ws" = String, Path)), responses((status = 200, body = [McpResource]), (status = 404, body = ErrorBody)))]
async fn list_resources(
    State(s): State<AppState>,
    Path(ws): Path<String>,
) -> Result<Json<Vec<McpResource>>, ApiError> {
    let ws = workspace(&ws)?;
    Ok(Json(
        s.vault.authorization_server().list_resources(&ws).await?,
    ))
}

#[utoipa::path(post, path = "/admin/v1/workspaces/{ws}/mcp-resources/{id}/disable", tag = "mcp", security(("admin_token" = [])),
    params(("ws" = String, Path), ("id" = String, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
async fn disable_resource(
    State(s): State<AppState>,
    Path((ws, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let ws = workspace(&ws)?;
    s.vault
        .authorization_server()
        .disable_resource(&ws, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(add_resource, list_resources, disable_resource),
    components(schemas(ErrorBody, McpResource, NewMcpResource)),
    tags((name = "mcp", description = "MCP resources served by the OAuth authorization server"))
)]
pub struct McpAdminDoc;
