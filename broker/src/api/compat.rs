//! Internal endpoints behind the gateway's drop-in routes for the original Nexus clients
//! (`nexus_protocol::compat`): provider metadata, the static-credential capture pair (the same
//! vault operations as the broker's `/connect/{state}` form) and connection revocation.

use super::internal::{authorize, caller};
use super::{AppState, JsonBody, require_internal};
use crate::error::ApiError;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use nexus_protocol::compat::{
    CaptureCredentialRequest, CaptureCredentialResponse, CaptureSchemaRequest,
    CaptureSchemaResponse, INTERNAL_CAPTURE_CREDENTIAL, INTERNAL_CAPTURE_SCHEMA,
    INTERNAL_PROVIDERS_METADATA, InternalRevokeConnection, ProvidersMetadata,
    RevokeConnectionResponse,
};
use nexus_protocol::internal::RevocationEvent;
use std::collections::HashMap;

pub fn router(service: AppState) -> Router<AppState> {
    Router::new()
        .route(INTERNAL_PROVIDERS_METADATA, get(providers_metadata))
        .route(INTERNAL_CAPTURE_SCHEMA, post(capture_schema))
        .route(INTERNAL_CAPTURE_CREDENTIAL, post(capture_credential))
        .route(
            "/internal/v1/workspaces/{ws}/connections/{id}/revoke",
            post(revoke_connection),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            service,
            require_internal,
        ))
}

async fn providers_metadata(
    State(s): State<AppState>,
) -> Result<Json<ProvidersMetadata>, ApiError> {
    Ok(Json(s.vault.admin().providers_metadata().await?))
}

async fn capture_schema(
    State(s): State<AppState>,
    JsonBody(body): JsonBody<CaptureSchemaRequest>,
) -> Result<Json<CaptureSchemaResponse>, ApiError> {
    let form = s
        .vault
        .connections()
        .capture_form(body.state.expose())
        .await?;
    Ok(Json(CaptureSchemaResponse::for_fields(
        form.provider_name,
        &form.fields,
    )))
}

async fn capture_credential(
    State(s): State<AppState>,
    JsonBody(body): JsonBody<CaptureCredentialRequest>,
) -> Result<Json<CaptureCredentialResponse>, ApiError> {
    let fields: HashMap<String, String> = body
        .credentials
        .iter()
        .map(|(name, value)| (name.clone(), value.expose().to_owned()))
        .collect();
    let captured = s
        .vault
        .connections()
        .capture_credentials(body.state.expose(), &fields)
        .await?;
    Ok(Json(CaptureCredentialResponse {
        connection_id: captured.connection_id,
        status: "success".into(),
        redirect_url: captured.redirect_url,
    }))
}

async fn revoke_connection(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((ws, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<InternalRevokeConnection>,
) -> Result<Json<RevokeConnectionResponse>, ApiError> {
    authorize(&body.principal, &ws)?;
    let caller = caller(&body.principal, body.request_id.clone(), &headers);
    let outcome = revoke_and_publish(&s, ws, &id, body.reason.as_deref(), &caller).await?;
    Ok(Json(RevokeConnectionResponse {
        connection_id: id,
        status: "revoked".into(),
        token_deleted: outcome.token_deleted,
        provider_revoked: outcome.provider_revoked,
        sessions_closed: 0,
    }))
}

/// Revoke a connection (store, audit, RFC 7009 at the provider: the vault's one operation) and
/// tell every gateway (the revocation feed). The admin API and the gateway's
/// `DELETE /v1/connections/{id}` both come here.
pub(super) async fn revoke_and_publish(
    s: &AppState,
    ws: String,
    id: &str,
    reason: Option<&str>,
    caller: &nexus_vault::Caller,
) -> Result<nexus_vault::connections::RevokeOutcome, ApiError> {
    let outcome = s
        .vault
        .connections()
        .revoke_connection(&ws, id, reason, caller)
        .await?;
    s.revocations
        .publish(
            s.vault.store(),
            RevocationEvent::ConnectionRevoked {
                workspace_id: ws,
                connection_id: id.to_owned(),
            },
        )
        .await;
    Ok(outcome)
}
