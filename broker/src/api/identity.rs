//! HTTP routes of agent identity.
//!
//! Admin (admin token): agents, trusted identity providers, audit chain verification.
//! Internal (internal token, called by the gateway): sessions, authorize, token exchange, JWKS.

use crate::api::{
    AppState, JsonBody, QueryParams, admin_caller, request_id, require_admin, require_internal,
};
use crate::error::ApiError;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use nexus_protocol::admin::{
    AddIdentityProviderRequest, Agent, AgentSession, ChainVerdict, CreateAgentRequest,
    CreatedAgent, IdentityProvider, RevokedSessions, RotatedCredential,
};
use nexus_protocol::identity::{
    AuthorizeResponse, INTERNAL_AUTHORIZE_PATH, INTERNAL_JWKS_PATH, INTERNAL_SESSION_REVOKE_PATH,
    INTERNAL_SESSION_STATUS_PATH, INTERNAL_SESSIONS_PATH, INTERNAL_TOKEN_EXCHANGE_PATH,
    INTERNAL_VERIFY_SESSION_PATH, InternalAuthorize, InternalCreateSession, InternalSessionOp,
    InternalTokenExchange, InternalVerifySession, SessionResponse, SessionStatus,
    TokenExchangeResponse,
};
use nexus_protocol::internal::Principal;
use nexus_protocol::{AgentId, ErrorBody};
use nexus_vault::admin::check_workspace_id;
use nexus_vault::error::VaultError;
use nexus_vault::identity::NewAgent;
use nexus_vault::store::identity::Agent as AgentRow;
use serde::Deserialize;

pub fn admin_router(service: AppState) -> axum::Router<AppState> {
    Router::new()
        .route(
            "/admin/v1/workspaces/{ws}/agents",
            get(list_agents).post(create_agent),
        )
        .route("/admin/v1/workspaces/{ws}/agents/{id}", get(get_agent))
        .route(
            "/admin/v1/workspaces/{ws}/agents/{id}/disable",
            post(disable_agent),
        )
        .route(
            "/admin/v1/workspaces/{ws}/agents/{id}/enable",
            post(enable_agent),
        )
        .route(
            "/admin/v1/workspaces/{ws}/agents/{id}/rotate-credential",
            post(rotate_credential),
        )
        .route(
            "/admin/v1/workspaces/{ws}/agents/{id}/sessions",
            get(list_agent_sessions).delete(revoke_all_agent_sessions),
        )
        .route(
            "/admin/v1/workspaces/{ws}/agents/{id}/sessions/{sid}",
            delete(revoke_agent_session),
        )
        .route(
            "/admin/v1/workspaces/{ws}/identity-providers",
            get(list_idps).post(add_idp),
        )
        .route(
            "/admin/v1/workspaces/{ws}/identity-providers/{id}",
            delete(remove_idp),
        )
        .route("/admin/v1/audit/verify", get(verify_audit))
        .route_layer(axum::middleware::from_fn_with_state(service, require_admin))
}

pub fn internal_router(service: AppState) -> axum::Router<AppState> {
    Router::new()
        .route(INTERNAL_SESSIONS_PATH, post(create_session))
        .route(INTERNAL_VERIFY_SESSION_PATH, post(verify_session))
        .route(INTERNAL_SESSION_STATUS_PATH, post(session_status))
        .route(INTERNAL_SESSION_REVOKE_PATH, post(revoke_session))
        .route(INTERNAL_AUTHORIZE_PATH, post(authorize))
        .route(INTERNAL_TOKEN_EXCHANGE_PATH, post(token_exchange))
        .route(INTERNAL_JWKS_PATH, get(jwks))
        .route_layer(axum::middleware::from_fn_with_state(
            service,
            require_internal,
        ))
}

fn valid_ws(ws: &str) -> Result<(), ApiError> {
    Ok(check_workspace_id(ws)?)
}

// ---- agents -----------------------------------------------------------------------------

/// An agent row as the admin API answers it.
fn wire_agent(agent: &AgentRow) -> Result<Agent, ApiError> {
    Ok(agent.to_wire().map_err(VaultError::from)?)
}

#[utoipa::path(post, path = "/admin/v1/workspaces/{ws}/agents", tag = "identity", security(("admin_token" = [])),
    params(("ws" = String, Path)), request_body = CreateAgentRequest,
    responses((status = 201, body = CreatedAgent), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn create_agent(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(ws): Path<String>,
    JsonBody(req): JsonBody<CreateAgentRequest>,
) -> Result<(StatusCode, Json<CreatedAgent>), ApiError> {
    let scopes: Vec<String> = req.scopes.into_iter().map(String::from).collect();
    let new = NewAgent {
        name: &req.name,
        scopes: &scopes,
        max_session_ttl_seconds: req.max_session_ttl_seconds,
    };
    let (agent, credential) = s
        .vault
        .identity()
        .create_agent(&ws, new, &admin_caller(&headers))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedAgent {
            agent: wire_agent(&agent)?,
            agent_credential: credential,
        }),
    ))
}

#[utoipa::path(get, path = "/admin/v1/workspaces/{ws}/agents", tag = "identity", security(("admin_token" = [])),
    params(("ws" = String, Path)), responses((status = 200, body = [Agent]), (status = 400, body = ErrorBody)))]
async fn list_agents(
    State(s): State<AppState>,
    Path(ws): Path<String>,
) -> Result<Json<Vec<Agent>>, ApiError> {
    let agents = s.vault.identity().list_agents(&ws).await?;
    Ok(Json(
        agents.iter().map(wire_agent).collect::<Result<_, _>>()?,
    ))
}

#[utoipa::path(get, path = "/admin/v1/workspaces/{ws}/agents/{id}", tag = "identity", security(("admin_token" = [])),
    params(("ws" = String, Path), ("id" = String, Path)), responses((status = 200, body = Agent), (status = 404, body = ErrorBody)))]
async fn get_agent(
    State(s): State<AppState>,
    Path((ws, id)): Path<(String, String)>,
) -> Result<Json<Agent>, ApiError> {
    wire_agent(&s.vault.identity().get_agent(&ws, &id).await?).map(Json)
}

async fn set_disabled(
    s: &AppState,
    headers: &HeaderMap,
    ws: &str,
    id: &str,
    disabled: bool,
) -> Result<Json<Agent>, ApiError> {
    let agent = s
        .vault
        .identity()
        .set_agent_disabled(ws, id, disabled, &admin_caller(headers))
        .await?;
    wire_agent(&agent).map(Json)
}

#[utoipa::path(post, path = "/admin/v1/workspaces/{ws}/agents/{id}/disable", tag = "identity", security(("admin_token" = [])),
    params(("ws" = String, Path), ("id" = String, Path)), responses((status = 200, body = Agent), (status = 404, body = ErrorBody)))]
async fn disable_agent(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((ws, id)): Path<(String, String)>,
) -> Result<Json<Agent>, ApiError> {
    set_disabled(&s, &headers, &ws, &id, true).await
}

#[utoipa::path(post, path = "/admin/v1/workspaces/{ws}/agents/{id}/enable", tag = "identity", security(("admin_token" = [])),
    params(("ws" = String, Path), ("id" = String, Path)), responses((status = 200, body = Agent), (status = 404, body = ErrorBody)))]
async fn enable_agent(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((ws, id)): Path<(String, String)>,
) -> Result<Json<Agent>, ApiError> {
    set_disabled(&s, &headers, &ws, &id, false).await
}

#[utoipa::path(post, path = "/admin/v1/workspaces/{ws}/agents/{id}/rotate-credential", tag = "identity", security(("admin_token" = [])),
    params(("ws" = String, Path), ("id" = String, Path)), responses((status = 200, body = RotatedCredential), (status = 404, body = ErrorBody)))]
async fn rotate_credential(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((ws, id)): Path<(String, String)>,
) -> Result<Json<RotatedCredential>, ApiError> {
    let credential = s
        .vault
        .identity()
        .rotate_agent_credential(&ws, &id, &admin_caller(&headers))
        .await?;
    // The vault found the agent, so the id follows the rule.
    let agent_id = AgentId::new(id).map_err(|e| ApiError::invalid(e.to_string()))?;
    Ok(Json(RotatedCredential {
        agent_id,
        agent_credential: credential,
    }))
}

#[utoipa::path(get, path = "/admin/v1/workspaces/{ws}/agents/{id}/sessions", tag = "identity", security(("admin_token" = [])),
    params(("ws" = String, Path), ("id" = String, Path)), responses((status = 200, body = [AgentSession]), (status = 404, body = ErrorBody)))]
async fn list_agent_sessions(
    State(s): State<AppState>,
    Path((ws, id)): Path<(String, String)>,
) -> Result<Json<Vec<AgentSession>>, ApiError> {
    Ok(Json(
        s.vault.identity().list_agent_sessions(&ws, &id).await?,
    ))
}

#[utoipa::path(delete, path = "/admin/v1/workspaces/{ws}/agents/{id}/sessions", tag = "identity", security(("admin_token" = [])),
    params(("ws" = String, Path), ("id" = String, Path)), responses((status = 200, body = RevokedSessions), (status = 404, body = ErrorBody)))]
async fn revoke_all_agent_sessions(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((ws, id)): Path<(String, String)>,
) -> Result<Json<RevokedSessions>, ApiError> {
    let caller = admin_caller(&headers);
    let identity = s.vault.identity();
    Ok(Json(
        identity
            .revoke_agent_sessions(&ws, &id, None, &caller)
            .await?,
    ))
}

#[utoipa::path(delete, path = "/admin/v1/workspaces/{ws}/agents/{id}/sessions/{sid}", tag = "identity", security(("admin_token" = [])),
    params(("ws" = String, Path), ("id" = String, Path), ("sid" = String, Path)),
    responses((status = 200, body = RevokedSessions), (status = 404, body = ErrorBody)))]
async fn revoke_agent_session(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((ws, id, sid)): Path<(String, String, String)>,
) -> Result<Json<RevokedSessions>, ApiError> {
    let caller = admin_caller(&headers);
    let identity = s.vault.identity();
    Ok(Json(
        identity
            .revoke_agent_sessions(&ws, &id, Some(&sid), &caller)
            .await?,
    ))
}

// ---- trusted identity providers -------------------------------------------------------------

#[utoipa::path(post, path = "/admin/v1/workspaces/{ws}/identity-providers", tag = "identity", security(("admin_token" = [])),
    params(("ws" = String, Path)), request_body = AddIdentityProviderRequest,
    responses((status = 201, body = IdentityProvider), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn add_idp(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(ws): Path<String>,
    JsonBody(req): JsonBody<AddIdentityProviderRequest>,
) -> Result<(StatusCode, Json<IdentityProvider>), ApiError> {
    let idp = s
        .vault
        .identity()
        .add_identity_provider(&ws, &req, &admin_caller(&headers))
        .await?;
    Ok((StatusCode::CREATED, Json(idp)))
}

#[utoipa::path(get, path = "/admin/v1/workspaces/{ws}/identity-providers", tag = "identity", security(("admin_token" = [])),
    params(("ws" = String, Path)), responses((status = 200, body = [IdentityProvider]), (status = 400, body = ErrorBody)))]
async fn list_idps(
    State(s): State<AppState>,
    Path(ws): Path<String>,
) -> Result<Json<Vec<IdentityProvider>>, ApiError> {
    Ok(Json(s.vault.identity().list_identity_providers(&ws).await?))
}

#[utoipa::path(delete, path = "/admin/v1/workspaces/{ws}/identity-providers/{id}", tag = "identity", security(("admin_token" = [])),
    params(("ws" = String, Path), ("id" = String, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
async fn remove_idp(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((ws, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    s.vault
        .identity()
        .remove_identity_provider(&ws, &id, &admin_caller(&headers))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- audit verification -----------------------------------------------------------------

#[derive(Deserialize)]
struct VerifyParams {
    workspace_id: Option<String>,
}

#[utoipa::path(get, path = "/admin/v1/audit/verify", tag = "identity", security(("admin_token" = [])),
    params(("workspace_id" = Option<String>, Query)),
    responses((status = 200, description = "Whether the hash chain holds", body = ChainVerdict), (status = 400, body = ErrorBody)))]
async fn verify_audit(
    State(s): State<AppState>,
    QueryParams(p): QueryParams<VerifyParams>,
) -> Result<Json<ChainVerdict>, ApiError> {
    let ws = p.workspace_id.filter(|w| !w.is_empty());
    if let Some(ws) = &ws {
        valid_ws(ws)?;
    }
    Ok(Json(s.vault.audit().verify_chain(ws.as_deref()).await?))
}

// ---- internal -----------------------------------------------------------------------------

async fn create_session(
    State(s): State<AppState>,
    headers: HeaderMap,
    JsonBody(mut req): JsonBody<InternalCreateSession>,
) -> Result<(StatusCode, Json<SessionResponse>), ApiError> {
    req.request_id = req.request_id.or_else(|| request_id(&headers));
    Ok((
        StatusCode::CREATED,
        Json(s.vault.identity().create_session(req).await?),
    ))
}

async fn verify_session(
    State(s): State<AppState>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<InternalVerifySession>,
) -> Result<Json<Principal>, ApiError> {
    Ok(Json(
        s.vault
            .identity()
            .verify_session_token(&req.token, request_id(&headers).as_deref())
            .await?,
    ))
}

async fn session_status(
    State(s): State<AppState>,
    JsonBody(req): JsonBody<InternalSessionOp>,
) -> Result<Json<SessionStatus>, ApiError> {
    Ok(Json(s.vault.identity().session_status(req).await?))
}

async fn revoke_session(
    State(s): State<AppState>,
    headers: HeaderMap,
    JsonBody(mut req): JsonBody<InternalSessionOp>,
) -> Result<Json<serde_json::Value>, ApiError> {
    req.request_id = req.request_id.or_else(|| request_id(&headers));
    let session_id = req.session_id.clone();
    s.vault.identity().revoke_session(req).await?;
    s.revocations
        .publish(
            s.vault.store(),
            nexus_protocol::internal::RevocationEvent::SessionRevoked { session_id },
        )
        .await;
    Ok(Json(serde_json::json!({ "revoked": true })))
}

async fn authorize(
    State(s): State<AppState>,
    headers: HeaderMap,
    JsonBody(mut req): JsonBody<InternalAuthorize>,
) -> Result<Json<AuthorizeResponse>, ApiError> {
    req.request_id = req.request_id.or_else(|| request_id(&headers));
    Ok(Json(s.vault.identity().authorize_scope(req).await?))
}

async fn token_exchange(
    State(s): State<AppState>,
    headers: HeaderMap,
    JsonBody(mut req): JsonBody<InternalTokenExchange>,
) -> Result<Json<TokenExchangeResponse>, ApiError> {
    req.request_id = req.request_id.or_else(|| request_id(&headers));
    Ok(Json(s.vault.identity().token_exchange(req).await?))
}

async fn jwks(State(s): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(s.vault.identity().jwks().await?))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        create_agent,
        list_agents,
        get_agent,
        disable_agent,
        enable_agent,
        rotate_credential,
        list_agent_sessions,
        revoke_all_agent_sessions,
        revoke_agent_session,
        add_idp,
        list_idps,
        remove_idp,
        verify_audit
    ),
    components(schemas(ErrorBody)),
    tags((name = "identity", description = "Agents, trusted identity providers, audit verification"))
)]
pub struct IdentityAdminDoc;
