//! The admin API (`/admin/v1`), authenticated with the admin token.

use super::{AppState, JsonBody, QueryParams, admin_caller, parse_json, require_admin};
use crate::error::ApiError;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use nexus_protocol::admin::{
    AdminConnectRequest, ApiKeyInfo, AuditRecord, ConnectionInfo, CreateWorkspaceRequest,
    CreatedApiKey, DriftReport, ImportRequest, RotateKeysRequest, RotateResponse, Workspace,
};
use nexus_protocol::internal::RevocationEvent;
use nexus_protocol::{RequestConnectionInput, RequestConnectionResponse};
use nexus_vault::admin::check_workspace_id;
use nexus_vault::connections::ImportConnection;
use nexus_vault::providers::ProviderInput;
use nexus_vault::store::audit::AuditQuery;
use nexus_vault::store::providers::StoredProvider;
use serde::Deserialize;

pub fn router(service: AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/admin/v1/providers",
            get(list_providers).post(put_provider),
        )
        .route("/admin/v1/providers/apply", post(apply_providers))
        .route(
            "/admin/v1/providers/{name}",
            get(get_provider).delete(delete_provider),
        )
        .route(
            "/admin/v1/workspaces",
            get(list_workspaces).post(create_workspace),
        )
        .route(
            "/admin/v1/workspaces/{ws}/api-keys",
            get(list_api_keys).post(create_api_key),
        )
        .route(
            "/admin/v1/workspaces/{ws}/api-keys/{key_id}",
            delete(revoke_api_key),
        )
        .route(
            "/admin/v1/workspaces/{ws}/connections",
            get(list_connections),
        )
        .route(
            "/admin/v1/workspaces/{ws}/connections/import",
            post(import_connection),
        )
        .route(
            "/admin/v1/workspaces/{ws}/connections/{id}",
            delete(revoke_connection),
        )
        .route("/admin/v1/workspaces/{ws}/connect", post(connect))
        .route("/admin/v1/keys/rotate", post(rotate_keys))
        .route("/admin/v1/audit", get(audit))
        .route_layer(axum::middleware::from_fn_with_state(service, require_admin))
}

fn valid_ws(ws: &str) -> Result<(), ApiError> {
    Ok(check_workspace_id(ws)?)
}

// ---- providers ------------------------------------------------------------------------------

#[utoipa::path(get, path = "/admin/v1/providers", tag = "admin", security(("admin_token" = [])),
    responses((status = 200, description = "All providers (never a client secret)", body = [StoredProvider])))]
async fn list_providers(State(s): State<AppState>) -> Result<Json<Vec<StoredProvider>>, ApiError> {
    Ok(Json(s.vault.admin().list_providers().await?))
}

#[utoipa::path(post, path = "/admin/v1/providers", tag = "admin", security(("admin_token" = [])), request_body = ProviderInput,
    responses((status = 200, body = StoredProvider), (status = 400, body = nexus_protocol::ErrorBody)))]
async fn put_provider(
    State(s): State<AppState>,
    headers: HeaderMap,
    JsonBody(input): JsonBody<ProviderInput>,
) -> Result<Json<StoredProvider>, ApiError> {
    Ok(Json(
        s.vault
            .admin()
            .put_provider(input, &admin_caller(&headers))
            .await?,
    ))
}

#[utoipa::path(get, path = "/admin/v1/providers/{name}", tag = "admin", security(("admin_token" = [])),
    params(("name" = String, Path)), responses((status = 200, body = StoredProvider), (status = 404, body = nexus_protocol::ErrorBody)))]
async fn get_provider(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<StoredProvider>, ApiError> {
    Ok(Json(s.vault.admin().get_provider(&name).await?))
}

#[utoipa::path(delete, path = "/admin/v1/providers/{name}", tag = "admin", security(("admin_token" = [])),
    params(("name" = String, Path)), responses((status = 204), (status = 404, body = nexus_protocol::ErrorBody)))]
async fn delete_provider(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.vault
        .admin()
        .delete_provider(&name, &admin_caller(&headers))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct ApplyQuery {
    #[serde(default)]
    dry_run: Option<String>,
    #[serde(default)]
    prune: Option<String>,
}

fn flag(v: &Option<String>, name: &str) -> Result<bool, ApiError> {
    match v.as_deref() {
        None | Some("") | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(_) => Err(ApiError::invalid(format!("`{name}` must be true or false"))),
    }
}

#[utoipa::path(post, path = "/admin/v1/providers/apply", tag = "admin", security(("admin_token" = [])),
    params(("dry_run" = Option<bool>, Query), ("prune" = Option<bool>, Query)),
    request_body(content = String, content_type = "application/yaml", description = "A providers document (YAML or JSON)"),
    responses((status = 200, body = DriftReport), (status = 400, body = nexus_protocol::ErrorBody)))]
async fn apply_providers(
    State(s): State<AppState>,
    headers: HeaderMap,
    QueryParams(q): QueryParams<ApplyQuery>,
    body: axum::body::Bytes,
) -> Result<Json<DriftReport>, ApiError> {
    let (dry_run, prune) = (flag(&q.dry_run, "dry_run")?, flag(&q.prune, "prune")?);
    let text =
        std::str::from_utf8(&body).map_err(|_| ApiError::invalid("the document must be UTF-8"))?;
    let report = s
        .vault
        .admin()
        .apply_providers(text, dry_run, prune, &admin_caller(&headers))
        .await?;
    Ok(Json(report))
}

// ---- workspaces and API keys ------------------------------------------------------------------

#[utoipa::path(get, path = "/admin/v1/workspaces", tag = "admin", security(("admin_token" = [])), responses((status = 200, body = [Workspace])))]
async fn list_workspaces(State(s): State<AppState>) -> Result<Json<Vec<Workspace>>, ApiError> {
    Ok(Json(s.vault.admin().list_workspaces().await?))
}

#[utoipa::path(post, path = "/admin/v1/workspaces", tag = "admin", security(("admin_token" = [])), request_body = CreateWorkspaceRequest,
    responses((status = 201, body = Workspace), (status = 400, body = nexus_protocol::ErrorBody)))]
async fn create_workspace(
    State(s): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<CreateWorkspaceRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let ws = s
        .vault
        .admin()
        .create_workspace(
            body.id.as_str(),
            body.name.as_deref(),
            &admin_caller(&headers),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(ws)))
}

#[utoipa::path(post, path = "/admin/v1/workspaces/{ws}/api-keys", tag = "admin", security(("admin_token" = [])), params(("ws" = String, Path)),
    responses((status = 201, description = "The key, shown this once", body = CreatedApiKey), (status = 404, body = nexus_protocol::ErrorBody)))]
async fn create_api_key(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(ws): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    valid_ws(&ws)?;
    let created = s
        .vault
        .admin()
        .create_api_key(&ws, &admin_caller(&headers))
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[utoipa::path(get, path = "/admin/v1/workspaces/{ws}/api-keys", tag = "admin", security(("admin_token" = [])), params(("ws" = String, Path)),
    responses((status = 200, body = [ApiKeyInfo])))]
async fn list_api_keys(
    State(s): State<AppState>,
    Path(ws): Path<String>,
) -> Result<Json<Vec<ApiKeyInfo>>, ApiError> {
    valid_ws(&ws)?;
    Ok(Json(s.vault.admin().list_api_keys(&ws).await?))
}

#[utoipa::path(delete, path = "/admin/v1/workspaces/{ws}/api-keys/{key_id}", tag = "admin", security(("admin_token" = [])),
    params(("ws" = String, Path), ("key_id" = String, Path)), responses((status = 204), (status = 404, body = nexus_protocol::ErrorBody)))]
async fn revoke_api_key(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((ws, key_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    valid_ws(&ws)?;
    s.vault
        .admin()
        .revoke_api_key(&ws, &key_id, &admin_caller(&headers))
        .await?;
    s.revocations
        .publish(
            s.vault.store(),
            RevocationEvent::ApiKeyRevoked {
                workspace_id: ws,
                key_id,
            },
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}

// ---- connections -------------------------------------------------------------------------------

/// Keyset pagination of a listing (issue 20): `limit` rows after the `after` cursor.
#[derive(Deserialize)]
struct PageQuery {
    #[serde(default)]
    limit: Option<String>,
    #[serde(default)]
    after: Option<String>,
}

/// Most rows one page of a listing holds.
const MAX_PAGE: u32 = 1000;

#[utoipa::path(get, path = "/admin/v1/workspaces/{ws}/connections", tag = "admin", security(("admin_token" = [])),
    params(("ws" = String, Path), ("limit" = Option<u32>, Query, description = "page size, 1-1000; without it, every connection"),
        ("after" = Option<String>, Query, description = "the cursor from the previous page's `Nexus-Next-Cursor` header")),
    responses((status = 200, body = [ConnectionInfo], headers(("Nexus-Next-Cursor" = String, description = "present when the page is full: pass it as `after` for the next page"))),
        (status = 400, body = nexus_protocol::ErrorBody)))]
async fn list_connections(
    State(s): State<AppState>,
    Path(ws): Path<String>,
    QueryParams(page): QueryParams<PageQuery>,
) -> Result<(HeaderMap, Json<Vec<ConnectionInfo>>), ApiError> {
    valid_ws(&ws)?;
    let limit = match page.limit.as_deref() {
        None => None,
        Some(l) => Some(
            l.parse::<u32>()
                .ok()
                .filter(|l| (1..=MAX_PAGE).contains(l))
                .ok_or_else(|| ApiError::invalid(format!("`limit` must be 1 to {MAX_PAGE}")))?,
        ),
    };
    let (items, next) = s
        .vault
        .connections()
        .list_page(&ws, page.after.as_deref(), limit)
        .await?;
    let mut headers = HeaderMap::new();
    if let Some(next) = next.and_then(|n| n.parse().ok()) {
        headers.insert("nexus-next-cursor", next);
    }
    Ok((headers, Json(items)))
}

#[utoipa::path(post, path = "/admin/v1/workspaces/{ws}/connections/import", tag = "admin", security(("admin_token" = [])), params(("ws" = String, Path)),
    request_body = ImportRequest, responses((status = 201, body = ConnectionInfo), (status = 400, body = nexus_protocol::ErrorBody)))]
async fn import_connection(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(ws): Path<String>,
    JsonBody(req): JsonBody<ImportRequest>,
) -> Result<impl IntoResponse, ApiError> {
    valid_ws(&ws)?;
    let import = ImportConnection {
        provider_name: req.provider_name.as_str(),
        kind: req.kind.as_str(),
        secret: &req.secret.0,
        user_id: req.user_id.as_deref(),
        scopes: &req.scopes,
        bound_to_mcp_user: req.bound_to_mcp_user,
    };
    let info = s
        .vault
        .connections()
        .import_connection(&ws, &import, &admin_caller(&headers))
        .await?;
    Ok((StatusCode::CREATED, Json(info)))
}

#[utoipa::path(delete, path = "/admin/v1/workspaces/{ws}/connections/{id}", tag = "admin", security(("admin_token" = [])),
    params(("ws" = String, Path), ("id" = String, Path)), responses((status = 204), (status = 404, body = nexus_protocol::ErrorBody)))]
async fn revoke_connection(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((ws, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    valid_ws(&ws)?;
    let caller = admin_caller(&headers);
    super::compat::revoke_and_publish(&s, ws, &id, Some("revoked by an admin"), &caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/admin/v1/workspaces/{ws}/connect", tag = "admin", security(("admin_token" = [])), params(("ws" = String, Path)),
    request_body = AdminConnectRequest, responses((status = 200, body = RequestConnectionResponse), (status = 404, body = nexus_protocol::ErrorBody)))]
async fn connect(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(ws): Path<String>,
    JsonBody(body): JsonBody<AdminConnectRequest>,
) -> Result<Json<RequestConnectionResponse>, ApiError> {
    valid_ws(&ws)?;
    let input = RequestConnectionInput {
        user_id: body.user_id.unwrap_or_default(),
        provider_name: body.provider_name.into_string(),
        scopes: body.scopes,
        return_url: body.return_url,
        metadata: Default::default(),
    };
    Ok(Json(
        s.vault
            .connections()
            .request_connection(&ws, &input, &admin_caller(&headers))
            .await?,
    ))
}

// ---- keys and audit ------------------------------------------------------------------------------

#[utoipa::path(post, path = "/admin/v1/keys/rotate", tag = "admin", security(("admin_token" = [])), request_body = RotateKeysRequest,
    responses((status = 200, body = RotateResponse), (status = 400, body = nexus_protocol::ErrorBody)))]
async fn rotate_keys(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<RotateResponse>, ApiError> {
    // An empty body means "generate a key".
    let body: RotateKeysRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RotateKeysRequest::default()
    } else {
        parse_json(&body)?
    };
    let rotation = s
        .vault
        .admin()
        .rotate_keys(
            body.new_key.as_ref().map(|k| k.expose()),
            &admin_caller(&headers),
        )
        .await?;
    Ok(Json(rotation))
}

#[derive(Deserialize)]
struct AuditParams {
    workspace_id: Option<String>,
    agent_id: Option<String>,
    user: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<String>,
}

/// An optional text filter: empty means none; control characters are refused (a NUL byte is
/// a server error on PostgreSQL, not a match).
fn filter_text(v: Option<String>, name: &str) -> Result<Option<String>, ApiError> {
    match v.filter(|v| !v.is_empty()) {
        Some(v) if v.len() > 500 || v.chars().any(char::is_control) => Err(ApiError::invalid(
            format!("`{name}` must be at most 500 characters without control characters"),
        )),
        other => Ok(other),
    }
}

/// RFC 3339, or unix seconds.
fn parse_time(v: &Option<String>, name: &str) -> Result<Option<i64>, ApiError> {
    let Some(v) = v.as_deref().filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if let Ok(secs) = v.parse::<i64>() {
        return Ok(Some(secs.saturating_mul(1000)));
    }
    chrono::DateTime::parse_from_rfc3339(v)
        .map(|t| Some(t.timestamp_millis()))
        .map_err(|_| ApiError::invalid(format!("`{name}` must be RFC 3339 or unix seconds")))
}

#[utoipa::path(get, path = "/admin/v1/audit", tag = "admin", security(("admin_token" = [])),
    params(("workspace_id" = Option<String>, Query), ("agent_id" = Option<String>, Query), ("user" = Option<String>, Query), ("since" = Option<String>, Query), ("until" = Option<String>, Query), ("limit" = Option<u32>, Query)),
    responses((status = 200, body = [AuditRecord]), (status = 400, body = nexus_protocol::ErrorBody)))]
async fn audit(
    State(s): State<AppState>,
    QueryParams(p): QueryParams<AuditParams>,
) -> Result<Json<Vec<AuditRecord>>, ApiError> {
    let limit = match p.limit.as_deref().filter(|l| !l.is_empty()) {
        None => 100,
        Some(l) => l
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| ApiError::invalid("`limit` must be 1..1000"))?,
    };
    let q = AuditQuery {
        workspace_id: p.workspace_id,
        since: parse_time(&p.since, "since")?,
        until: parse_time(&p.until, "until")?,
        agent_id: filter_text(p.agent_id, "agent_id")?,
        user: filter_text(p.user, "user")?,
        limit,
    };
    Ok(Json(s.vault.audit().query(&q).await?))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "Nexus broker admin API"),
    paths(
        list_providers,
        put_provider,
        get_provider,
        delete_provider,
        apply_providers,
        list_workspaces,
        create_workspace,
        create_api_key,
        list_api_keys,
        revoke_api_key,
        list_connections,
        import_connection,
        revoke_connection,
        connect,
        rotate_keys,
        audit
    ),
    components(schemas(nexus_protocol::ErrorBody)),
    modifiers(&AdminTokenScheme)
)]
pub struct AdminApiDoc;

/// Declares `admin_token` (HTTP bearer), which every admin operation requires.
struct AdminTokenScheme;

impl utoipa::Modify for AdminTokenScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}
