//! `POST /admin/v1/workspaces/{ws}/connect-links` (admin token): a signed, single-use link to
//! the connect page, for an app to hand to its user or for `nexus connect` to print.

use super::{AppState, JsonBody, require_admin};
use crate::error::ApiError;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use nexus_protocol::connect_link::{ConnectLinkRequest, ConnectLinkResponse};
use nexus_vault::admin::check_workspace_id;
use nexus_vault::store::now_ms;

pub fn router(service: AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/admin/v1/workspaces/{ws}/connect-links",
            post(create_connect_link),
        )
        .route_layer(axum::middleware::from_fn_with_state(service, require_admin))
}

#[utoipa::path(post, path = "/admin/v1/workspaces/{ws}/connect-links", tag = "admin", security(("admin_token" = [])),
    params(("ws" = String, Path)), request_body = ConnectLinkRequest,
    responses((status = 201, body = ConnectLinkResponse), (status = 400, body = nexus_protocol::ErrorBody),
              (status = 404, body = nexus_protocol::ErrorBody)))]
async fn create_connect_link(
    State(s): State<AppState>,
    headers: axum::http::HeaderMap,
    Path(ws): Path<String>,
    JsonBody(body): JsonBody<ConnectLinkRequest>,
) -> Result<(StatusCode, Json<ConnectLinkResponse>), ApiError> {
    check_workspace_id(&ws)?;
    let link = s
        .vault
        .connections()
        .issue_connect_link(&ws, &body, now_ms(), &super::admin_caller(&headers))
        .await?;
    Ok((StatusCode::CREATED, Json(link)))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(create_connect_link),
    components(schemas(nexus_protocol::ErrorBody))
)]
pub struct ConnectLinksDoc;
