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
use nexus_protocol::identity::{
    AuthorizeResponse, INTERNAL_AUTHORIZE_PATH, INTERNAL_JWKS_PATH, INTERNAL_SESSION_REVOKE_PATH,
    INTERNAL_SESSION_STATUS_PATH, INTERNAL_SESSIONS_PATH, INTERNAL_TOKEN_EXCHANGE_PATH,
    INTERNAL_VERIFY_SESSION_PATH, InternalAuthorize, InternalCreateSession, InternalSessionOp,
    InternalTokenExchange, InternalVerifySession, SessionResponse, SessionStatus,
    TokenExchangeResponse,
};
use nexus_protocol::internal::Principal;
use nexus_protocol::{ErrorBody, SecretString};
use nexus_vault::identity::{DEFAULT_SESSION_TTL_SECONDS, MAX_SESSION_TTL_SECONDS, is_valid_scope};
use nexus_vault::store::audit_chain::ChainVerdict;
use nexus_vault::store::identity::{Agent, IdentityProvider};
use nexus_vault::store::workspaces::is_valid_workspace_id;
use serde::{Deserialize, Serialize};

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
    if is_valid_workspace_id(ws) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "workspace id must match [a-z0-9][a-z0-9_-]{0,62}",
        ))
    }
}

fn agent_not_found() -> ApiError {
    ApiError::not_found("no such agent in this workspace")
}

/// Agent and identity-provider ids are `[A-Za-z0-9_]{1,64}`; anything else names nothing (and
/// never reaches the database, where e.g. a NUL byte would be a server error on PostgreSQL).
fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn valid_agent(ws: &str, id: &str) -> Result<(), ApiError> {
    valid_ws(ws)?;
    if valid_id(id) {
        Ok(())
    } else {
        Err(agent_not_found())
    }
}

// ---- agents -----------------------------------------------------------------------------

/// Body of `POST /admin/v1/workspaces/{ws}/agents`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAgentRequest {
    pub name: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Default 900, at most 86400.
    #[serde(default)]
    pub max_session_ttl_seconds: Option<u64>,
}

/// The created agent and its credential (shown once).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedAgent {
    #[serde(flatten)]
    pub agent: Agent,
    #[schema(value_type = String)]
    pub agent_credential: SecretString,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RotatedCredential {
    pub agent_id: String,
    #[schema(value_type = String)]
    pub agent_credential: SecretString,
}

fn check_agent_request(req: &CreateAgentRequest) -> Result<u64, ApiError> {
    let name_ok = !req.name.trim().is_empty()
        && req.name.chars().count() <= 100
        && !req.name.chars().any(char::is_control);
    if !name_ok {
        return Err(ApiError::invalid(
            "`name` must be 1..100 characters without control characters",
        ));
    }
    if req.scopes.len() > 100 || !req.scopes.iter().all(|s| is_valid_scope(s)) {
        return Err(ApiError::invalid(
            "`scopes` must be at most 100 non-empty strings without spaces (≤ 200 characters)",
        ));
    }
    let ttl = req
        .max_session_ttl_seconds
        .unwrap_or(DEFAULT_SESSION_TTL_SECONDS);
    if !(1..=MAX_SESSION_TTL_SECONDS).contains(&ttl) {
        return Err(ApiError::invalid(format!(
            "`max_session_ttl_seconds` must be 1..{MAX_SESSION_TTL_SECONDS}"
        )));
    }
    Ok(ttl)
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
    valid_ws(&ws)?;
    let ttl = check_agent_request(&req)?;
    let mut scopes = Vec::new();
    for scope in req.scopes {
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    let (agent, credential) = s
        .store
        .create_agent(&ws, req.name.trim(), &scopes, ttl)
        .await?;
    s.admin_audit(
        Some(&ws),
        "agent.created",
        &agent.agent_id,
        &admin_caller(&headers),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(CreatedAgent {
            agent,
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
    valid_ws(&ws)?;
    Ok(Json(s.store.list_agents(&ws).await?))
}

#[utoipa::path(get, path = "/admin/v1/workspaces/{ws}/agents/{id}", tag = "identity", security(("admin_token" = [])),
    params(("ws" = String, Path), ("id" = String, Path)), responses((status = 200, body = Agent), (status = 404, body = ErrorBody)))]
async fn get_agent(
    State(s): State<AppState>,
    Path((ws, id)): Path<(String, String)>,
) -> Result<Json<Agent>, ApiError> {
    valid_agent(&ws, &id)?;
    s.store
        .get_agent(&ws, &id)
        .await?
        .map(Json)
        .ok_or_else(agent_not_found)
}

async fn set_disabled(
    s: &AppState,
    headers: &HeaderMap,
    ws: &str,
    id: &str,
    disabled: bool,
) -> Result<Json<Agent>, ApiError> {
    valid_agent(ws, id)?;
    s.store
        .set_agent_disabled(ws, id, disabled)
        .await
        .map_err(|_| agent_not_found())?;
    let action = if disabled {
        "agent.disabled"
    } else {
        "agent.enabled"
    };
    s.admin_audit(Some(ws), action, id, &admin_caller(headers))
        .await;
    s.store
        .get_agent(ws, id)
        .await?
        .map(Json)
        .ok_or_else(agent_not_found)
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
    valid_agent(&ws, &id)?;
    let credential = s
        .store
        .rotate_agent_credential(&ws, &id)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::NotFound(_) => agent_not_found(),
            other => other.into(),
        })?;
    s.admin_audit(
        Some(&ws),
        "agent.credential_rotated",
        &id,
        &admin_caller(&headers),
    )
    .await;
    Ok(Json(RotatedCredential {
        agent_id: id,
        agent_credential: credential,
    }))
}

// ---- trusted identity providers -------------------------------------------------------------

/// Body of `POST /admin/v1/workspaces/{ws}/identity-providers`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddIdentityProvider {
    /// The `iss` of the user tokens, an http(s) URL.
    pub issuer: String,
    /// Without it, keys are found by OIDC discovery at `{issuer}/.well-known/openid-configuration`.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// When set, user tokens must carry it in `aud`.
    #[serde(default)]
    pub audience: Option<String>,
}

fn is_http_url(v: &str) -> bool {
    v.len() <= 2000
        && !v.chars().any(char::is_control)
        && url::Url::parse(v)
            .map(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .unwrap_or(false)
}

#[utoipa::path(post, path = "/admin/v1/workspaces/{ws}/identity-providers", tag = "identity", security(("admin_token" = [])),
    params(("ws" = String, Path)), request_body = AddIdentityProvider,
    responses((status = 201, body = IdentityProvider), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn add_idp(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(ws): Path<String>,
    JsonBody(req): JsonBody<AddIdentityProvider>,
) -> Result<(StatusCode, Json<IdentityProvider>), ApiError> {
    valid_ws(&ws)?;
    if !is_http_url(&req.issuer) {
        return Err(ApiError::invalid(
            "`issuer` must be an absolute http(s) URL",
        ));
    }
    if req.jwks_url.as_deref().is_some_and(|u| !is_http_url(u)) {
        return Err(ApiError::invalid(
            "`jwks_url` must be an absolute http(s) URL",
        ));
    }
    if req
        .audience
        .as_deref()
        .is_some_and(|a| a.is_empty() || a.len() > 500 || a.chars().any(char::is_control))
    {
        return Err(ApiError::invalid("`audience` must be 1..500 characters"));
    }
    let idp = s
        .store
        .add_identity_provider(
            &ws,
            &req.issuer,
            req.jwks_url.as_deref(),
            req.audience.as_deref(),
        )
        .await?;
    s.admin_audit(
        Some(&ws),
        "identity_provider.added",
        &idp.id,
        &admin_caller(&headers),
    )
    .await;
    Ok((StatusCode::CREATED, Json(idp)))
}

#[utoipa::path(get, path = "/admin/v1/workspaces/{ws}/identity-providers", tag = "identity", security(("admin_token" = [])),
    params(("ws" = String, Path)), responses((status = 200, body = [IdentityProvider]), (status = 400, body = ErrorBody)))]
async fn list_idps(
    State(s): State<AppState>,
    Path(ws): Path<String>,
) -> Result<Json<Vec<IdentityProvider>>, ApiError> {
    valid_ws(&ws)?;
    Ok(Json(s.store.list_identity_providers(&ws).await?))
}

#[utoipa::path(delete, path = "/admin/v1/workspaces/{ws}/identity-providers/{id}", tag = "identity", security(("admin_token" = [])),
    params(("ws" = String, Path), ("id" = String, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
async fn remove_idp(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((ws, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    valid_ws(&ws)?;
    if !valid_id(&id) {
        return Err(ApiError::not_found("no such identity provider"));
    }
    s.store.delete_identity_provider(&ws, &id).await?;
    s.admin_audit(
        Some(&ws),
        "identity_provider.removed",
        &id,
        &admin_caller(&headers),
    )
    .await;
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
    Ok(Json(s.store.verify_audit_chain(ws.as_deref()).await?))
}

// ---- internal -----------------------------------------------------------------------------

async fn create_session(
    State(s): State<AppState>,
    headers: HeaderMap,
    JsonBody(mut req): JsonBody<InternalCreateSession>,
) -> Result<(StatusCode, Json<SessionResponse>), ApiError> {
    req.request_id = req.request_id.or_else(|| request_id(&headers));
    Ok((StatusCode::CREATED, Json(s.create_session(req).await?)))
}

async fn verify_session(
    State(s): State<AppState>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<InternalVerifySession>,
) -> Result<Json<Principal>, ApiError> {
    Ok(Json(
        s.verify_session_token(&req.token, request_id(&headers).as_deref())
            .await?,
    ))
}

async fn session_status(
    State(s): State<AppState>,
    JsonBody(req): JsonBody<InternalSessionOp>,
) -> Result<Json<SessionStatus>, ApiError> {
    Ok(Json(s.session_status(req).await?))
}

async fn revoke_session(
    State(s): State<AppState>,
    headers: HeaderMap,
    JsonBody(mut req): JsonBody<InternalSessionOp>,
) -> Result<Json<serde_json::Value>, ApiError> {
    req.request_id = req.request_id.or_else(|| request_id(&headers));
    s.revoke_session(req).await?;
    Ok(Json(serde_json::json!({ "revoked": true })))
}

async fn authorize(
    State(s): State<AppState>,
    headers: HeaderMap,
    JsonBody(mut req): JsonBody<InternalAuthorize>,
) -> Result<Json<AuthorizeResponse>, ApiError> {
    req.request_id = req.request_id.or_else(|| request_id(&headers));
    Ok(Json(s.authorize_scope(req).await?))
}

async fn token_exchange(
    State(s): State<AppState>,
    headers: HeaderMap,
    JsonBody(mut req): JsonBody<InternalTokenExchange>,
) -> Result<Json<TokenExchangeResponse>, ApiError> {
    req.request_id = req.request_id.or_else(|| request_id(&headers));
    Ok(Json(s.token_exchange(req).await?))
}

async fn jwks(State(s): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(s.identity.signer.jwks(&s.store).await?))
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
        add_idp,
        list_idps,
        remove_idp,
        verify_audit
    ),
    components(schemas(ErrorBody)),
    tags((name = "identity", description = "Agents, trusted identity providers, audit verification"))
)]
pub struct IdentityAdminDoc;
