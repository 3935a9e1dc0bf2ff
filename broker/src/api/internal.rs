//! The internal API the gateway calls (`/internal/v1`), authenticated with the internal token.
//! Bodies name a principal; the broker refuses (403) a body whose workspace is not the
//! principal's.

use super::{AppState, JsonBody, RequestIdHeader, request_id, require_internal};
use crate::error::ApiError;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use nexus_protocol::connect_link::ConnectLinkResponse;
use nexus_protocol::internal::{
    CONNECT_LINKS_PATH, InternalConnectLink, InternalRequestConnection, InternalResolveRequest,
    Principal, REQUEST_CONNECTION_PATH, RESOLVE_PATH, VERIFY_API_KEY_PATH, VerifyKeyRequest,
    VerifyKeyResponse,
};
use nexus_protocol::mcp::{
    AsAdvertisement, INTERNAL_AS_ADVERTISEMENT_PATH, INTERNAL_USER_CREDENTIAL_PATH,
    InternalUserCredentialRequest,
};
use nexus_protocol::proxy::{AUDIT_BATCH_PATH, MAX_AUDIT_BATCH, ProxyAuditBatch};
use nexus_protocol::{
    CheckConnectionResponse, ErrorCode, RequestConnectionResponse, ResolveResponse,
};
use nexus_vault::{Caller, VaultError};

pub fn router(service: AppState) -> Router<AppState> {
    Router::new()
        .route(VERIFY_API_KEY_PATH, post(verify_key))
        .route(RESOLVE_PATH, post(resolve))
        .route(REQUEST_CONNECTION_PATH, post(request_connection))
        // Connect links for apps (issue 18): the gateway's `POST /v1/connect-links`.
        .route(CONNECT_LINKS_PATH, post(connect_link))
        // MCP servers (issue 17): the upstream credential of the user of an MCP access token.
        .route(INTERNAL_USER_CREDENTIAL_PATH, post(mcp_user_credential))
        // …and which authorization server issues those tokens (the gateway advertises it).
        .route(INTERNAL_AS_ADVERTISEMENT_PATH, get(as_advertisement))
        // Proxy mode (issue 16): the gateway's audit records of proxied calls.
        .route(AUDIT_BATCH_PATH, post(proxy_audit))
        .route(
            "/internal/v1/workspaces/{ws}/connections/{id}",
            get(check_connection),
        )
        .route(
            "/internal/v1/workspaces/{ws}/connections/{id}/token",
            get(connection_token),
        )
        .route(
            "/internal/v1/workspaces/{ws}/connections/{id}/refresh",
            post(refresh_connection),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            service,
            require_internal,
        ))
}

pub(super) fn authorize(principal: &Principal, workspace_id: &str) -> Result<(), ApiError> {
    if principal.workspace_id() == workspace_id {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::Forbidden,
            "the caller may not act in this workspace",
        ))
    }
}

pub(super) fn caller(
    principal: &Principal,
    body_request_id: Option<String>,
    headers: &HeaderMap,
) -> Caller {
    caller_with(principal, body_request_id, request_id(headers))
}

/// [`caller`] with the header's request id already read ([`RequestIdHeader`]).
fn caller_with(
    principal: &Principal,
    body_request_id: Option<String>,
    header_request_id: Option<String>,
) -> Caller {
    Caller {
        principal: principal.audit_label(),
        request_id: body_request_id.or(header_request_id),
    }
}

/// The gateway's path-based calls carry the principal's workspace in the path (it builds the
/// path from the verified principal), so the workspace there is the authorization boundary.
fn path_caller(headers: &HeaderMap) -> Caller {
    Caller {
        principal: "gateway".into(),
        request_id: request_id(headers),
    }
}

async fn verify_key(
    State(s): State<AppState>,
    connect: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<VerifyKeyRequest>,
) -> Result<Json<VerifyKeyResponse>, ApiError> {
    let verified = s.vault.admin().verify_api_key(&req.key).await;
    if let Err(VaultError::Unauthenticated(_)) = &verified {
        // Who presented it: the gateway's client, else the caller (an older gateway).
        let source = req
            .client_ip
            .or(connect.map(|c| c.0.0.ip()))
            .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into());
        if s.api_key_failures.record(source) {
            tracing::warn!(%source, "refused API key at a gateway");
            let rid = request_id(&headers);
            s.vault
                .audit()
                .api_key_refused(&req.key, &source.to_string(), rid.as_deref())
                .await;
        }
    }
    let (workspace_id, key_id) = verified?;
    Ok(Json(VerifyKeyResponse {
        workspace_id,
        key_id,
    }))
}

async fn resolve(
    State(s): State<AppState>,
    RequestIdHeader(header_request_id): RequestIdHeader,
    JsonBody(req): JsonBody<InternalResolveRequest>,
) -> Result<Json<ResolveResponse>, ApiError> {
    if matches!(req.principal, Principal::Session { .. }) {
        // Agent sessions: scope check, narrowing and audit (nexus_vault::identity).
        let caller = caller_with(&req.principal, req.request_id.clone(), header_request_id);
        return Ok(Json(
            s.vault
                .identity()
                .resolve_for_session(&req, &caller)
                .await?,
        ));
    }
    authorize(&req.principal, &req.workspace_id)?;
    let caller = caller_with(&req.principal, req.request_id.clone(), header_request_id);
    Ok(Json(
        s.vault
            .connections()
            .resolve(
                &req.workspace_id,
                &req.provider_name,
                req.min_ttl,
                req.force_refresh,
                &caller,
            )
            .await?,
    ))
}

/// The credential of the MCP user whose access token the MCP server presents (design 17 §5.4).
/// The vault verifies the token and that its resource is in the key's workspace; an agent
/// session is refused there (403).
async fn mcp_user_credential(
    State(s): State<AppState>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<InternalUserCredentialRequest>,
) -> Result<Json<ResolveResponse>, ApiError> {
    let request_id = req.request_id.clone().or_else(|| request_id(&headers));
    Ok(Json(
        s.vault
            .mcp_users()
            .user_credential(&req.principal, &req.request, request_id)
            .await?,
    ))
}

/// The authorization server this broker runs (design 17 §2.1). One issuer for every workspace,
/// so the answer names no principal; the gateway caches it.
async fn as_advertisement(State(s): State<AppState>) -> Json<AsAdvertisement> {
    Json(s.vault.authorization_server().advertisement())
}

/// Append the gateway's batch of proxied-call records to the audit trail.
async fn proxy_audit(
    State(s): State<AppState>,
    JsonBody(batch): JsonBody<ProxyAuditBatch>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if batch.records.len() > MAX_AUDIT_BATCH {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("at most {MAX_AUDIT_BATCH} records per batch"),
        ));
    }
    let stored = batch.records.len();
    s.vault.audit().proxy_calls(batch.records).await?;
    Ok(Json(serde_json::json!({ "stored": stored })))
}

async fn request_connection(
    State(s): State<AppState>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<InternalRequestConnection>,
) -> Result<Json<RequestConnectionResponse>, ApiError> {
    authorize(&req.principal, &req.workspace_id)?;
    let caller = caller(&req.principal, req.request_id.clone(), &headers);
    Ok(Json(
        s.vault
            .connections()
            .request_connection(&req.workspace_id, &req.input, &caller)
            .await?,
    ))
}

/// A connect link for the caller's workspace. Only a workspace API key may ask: an agent
/// session acts for a task, not for the people who connect accounts.
async fn connect_link(
    State(s): State<AppState>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<InternalConnectLink>,
) -> Result<(axum::http::StatusCode, Json<ConnectLinkResponse>), ApiError> {
    authorize(&req.principal, &req.workspace_id)?;
    if !matches!(req.principal, Principal::ApiKey { .. }) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "connect links are issued to a workspace API key, not to an agent session",
        ));
    }
    let link = s
        .vault
        .connections()
        .issue_connect_link(
            &req.workspace_id,
            &req.link,
            nexus_vault::store::now_ms(),
            &caller(&req.principal, req.request_id.clone(), &headers),
        )
        .await?;
    Ok((axum::http::StatusCode::CREATED, Json(link)))
}

async fn check_connection(
    State(s): State<AppState>,
    Path((ws, id)): Path<(String, String)>,
) -> Result<Json<CheckConnectionResponse>, ApiError> {
    Ok(Json(
        s.vault.connections().check_connection(&ws, &id).await?,
    ))
}

async fn connection_token(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((ws, id)): Path<(String, String)>,
) -> Result<Json<ResolveResponse>, ApiError> {
    Ok(Json(
        s.vault
            .connections()
            .token_by_id(&ws, &id, false, &path_caller(&headers))
            .await?,
    ))
}

async fn refresh_connection(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((ws, id)): Path<(String, String)>,
) -> Result<Json<ResolveResponse>, ApiError> {
    Ok(Json(
        s.vault
            .connections()
            .token_by_id(&ws, &id, true, &path_caller(&headers))
            .await?,
    ))
}
