//! The webhook admin API (`/admin/v1/webhooks…`, admin token): endpoints, secret rotation,
//! deliveries and redelivery. Thin glue over `nexus_vault::WebhookService`.

use super::{AppState, JsonBody, QueryParams, admin_caller, parse_json, require_admin};
use crate::error::ApiError;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use nexus_protocol::webhooks::{
    CreateWebhookRequest, CreatedWebhook, RedeliverResponse, RotateWebhookSecretRequest,
    RotatedWebhookSecret, WebhookDelivery, WebhookEndpoint,
};
use serde::Deserialize;

pub fn router(service: AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/admin/v1/webhooks",
            get(list_webhooks).post(create_webhook),
        )
        .route("/admin/v1/webhooks/{id}", delete(remove_webhook))
        .route("/admin/v1/webhooks/{id}/rotate-secret", post(rotate_secret))
        .route("/admin/v1/webhooks/{id}/deliveries", get(list_deliveries))
        .route(
            "/admin/v1/webhook-deliveries/{id}/redeliver",
            post(redeliver),
        )
        .route_layer(axum::middleware::from_fn_with_state(service, require_admin))
}

#[utoipa::path(post, path = "/admin/v1/webhooks", tag = "webhooks", security(("admin_token" = [])),
    request_body = CreateWebhookRequest,
    responses((status = 201, description = "The endpoint and its signing secret (shown only here)", body = CreatedWebhook),
        (status = 400, body = nexus_protocol::ErrorBody)))]
async fn create_webhook(
    State(s): State<AppState>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<CreateWebhookRequest>,
) -> Result<(StatusCode, Json<CreatedWebhook>), ApiError> {
    let created = s
        .vault
        .webhooks()
        .create(req, &admin_caller(&headers))
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[utoipa::path(get, path = "/admin/v1/webhooks", tag = "webhooks", security(("admin_token" = [])),
    responses((status = 200, description = "Every endpoint (never a secret)", body = [WebhookEndpoint])))]
async fn list_webhooks(State(s): State<AppState>) -> Result<Json<Vec<WebhookEndpoint>>, ApiError> {
    Ok(Json(s.vault.webhooks().list().await?))
}

#[utoipa::path(delete, path = "/admin/v1/webhooks/{id}", tag = "webhooks", security(("admin_token" = [])),
    params(("id" = String, Path)), responses((status = 204), (status = 404, body = nexus_protocol::ErrorBody)))]
async fn remove_webhook(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.vault
        .webhooks()
        .remove(&id, &admin_caller(&headers))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/admin/v1/webhooks/{id}/rotate-secret", tag = "webhooks", security(("admin_token" = [])),
    params(("id" = String, Path)), request_body = RotateWebhookSecretRequest,
    responses((status = 200, description = "The new secret (shown only here); the previous one signs too until `previous_expires_at`", body = RotatedWebhookSecret),
        (status = 404, body = nexus_protocol::ErrorBody)))]
async fn rotate_secret(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<RotatedWebhookSecret>, ApiError> {
    // An empty body means the default overlap.
    let req: RotateWebhookSecretRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RotateWebhookSecretRequest::default()
    } else {
        parse_json(&body)?
    };
    Ok(Json(
        s.vault
            .webhooks()
            .rotate_secret(&id, req, &admin_caller(&headers))
            .await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveriesQuery {
    state: Option<String>,
    /// Deliveries with an id below this (the last id of the previous page).
    cursor: Option<i64>,
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/admin/v1/webhooks/{id}/deliveries", tag = "webhooks", security(("admin_token" = [])),
    params(("id" = String, Path), ("state" = Option<String>, Query), ("cursor" = Option<i64>, Query), ("limit" = Option<i64>, Query)),
    responses((status = 200, description = "Newest first", body = [WebhookDelivery]), (status = 404, body = nexus_protocol::ErrorBody)))]
async fn list_deliveries(
    State(s): State<AppState>,
    Path(id): Path<String>,
    QueryParams(q): QueryParams<DeliveriesQuery>,
) -> Result<Json<Vec<WebhookDelivery>>, ApiError> {
    Ok(Json(
        s.vault
            .webhooks()
            .deliveries(&id, q.state.as_deref(), q.cursor, q.limit)
            .await?,
    ))
}

#[utoipa::path(post, path = "/admin/v1/webhook-deliveries/{id}/redeliver", tag = "webhooks", security(("admin_token" = [])),
    params(("id" = i64, Path)),
    responses((status = 202, body = RedeliverResponse), (status = 404, body = nexus_protocol::ErrorBody)))]
async fn redeliver(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<RedeliverResponse>), ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::invalid("the delivery id must be a number"))?;
    let answer = s
        .vault
        .webhooks()
        .redeliver(id, &admin_caller(&headers))
        .await?;
    Ok((StatusCode::ACCEPTED, Json(answer)))
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(
    create_webhook,
    list_webhooks,
    remove_webhook,
    rotate_secret,
    list_deliveries,
    redeliver
))]
pub struct WebhooksAdminDoc;
