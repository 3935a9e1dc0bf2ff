//! The OpenAPI 3.1 document served at `/openapi.json`: every gateway endpoint (from the
//! `#[utoipa::path]` attributes on the handlers) plus the broker's admin API.

use crate::routes::{connections, health, resolve, sessions};
use nexus_protocol::{
    CheckConnectionAnswer, CoarseStatus, ConnectionStatus, ErrorBody, RequestConnectionInput,
    RequestConnectionResponse, ResolveResponse, ScopeEnforcement, StrategySpec,
};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Nexus",
        description = "Credential broker for AI agents and MCP servers: the public gateway API \
                       and the broker admin API."
    ),
    paths(
        resolve::resolve,
        connections::request_connection,
        connections::check_connection,
        connections::connection_token,
        connections::refresh_connection,
        health::healthz,
        health::readyz,
        health::metrics,
        health::openapi_json,
        sessions::create_session,
        sessions::get_session,
        sessions::delete_session,
        sessions::authorize,
        sessions::token_exchange,
        sessions::jwks,
    ),
    components(schemas(
        ResolveResponse, StrategySpec, ScopeEnforcement, ErrorBody, RequestConnectionInput,
        RequestConnectionResponse, CheckConnectionAnswer, CoarseStatus, ConnectionStatus,
    )),
    modifiers(&ApiKeySchemes),
    tags(
        (name = "resolve", description = "Short-lived credentials for a workspace's connections"),
        (name = "connections", description = "The connection lifecycle"),
        (name = "operations", description = "Health, readiness, metrics, this document"),
        (name = "identity", description = "Agent sessions, authorization checks, On-Behalf-Of"),
    )
)]
struct GatewayApi;

/// The two ways a caller presents a workspace API key.
struct ApiKeySchemes;

impl Modify for ApiKeySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
    }
}

/// The gateway's document with the broker admin API merged in.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut document = GatewayApi::openapi();
    // Paths and schemas are disjoint (`/v1`, `/healthz`… here; `/admin/v1` there). On a name
    // clash `merge` keeps the gateway's entry, which is the one this server actually serves.
    document.merge(nexus_broker::api_doc());
    document
}
