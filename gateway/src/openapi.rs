//! The OpenAPI 3.1 document served at `/openapi.json`: exactly the routes the gateway serves
//! (from the `#[utoipa::path]` attributes on the handlers). The broker's admin API is in the
//! broker's own document, at the broker's `/openapi.json`.

use crate::routes::{connections, health, mcp, resolve, sessions};
use nexus_protocol::connect_link::{ConnectLinkRequest, ConnectLinkResponse};
use nexus_protocol::mcp::{AsAdvertisement, UserCredentialRequest};
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
        description = "Credential broker for AI agents and MCP servers: the public gateway API."
    ),
    paths(
        resolve::resolve,
        connections::request_connection,
        connections::create_connect_link,
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
        mcp::user_credential,
        mcp::authorization_server,
    ),
    components(schemas(
        ResolveResponse, StrategySpec, ScopeEnforcement, ErrorBody, RequestConnectionInput,
        RequestConnectionResponse, CheckConnectionAnswer, CoarseStatus, ConnectionStatus,
        ConnectLinkRequest, ConnectLinkResponse, UserCredentialRequest, AsAdvertisement,
    )),
    modifiers(&ApiKeySchemes),
    tags(
        (name = "resolve", description = "Short-lived credentials for a workspace's connections"),
        (name = "connections", description = "The connection lifecycle"),
        (name = "operations", description = "Health, readiness, metrics, this document"),
        (name = "identity", description = "Agent sessions, authorization checks, On-Behalf-Of"),
        (name = "mcp", description = "MCP servers: the authorization server that issues their access tokens, and the upstream credential of the user of such a token"),
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

/// The gateway's document. Every path in it is routed by [`crate::routes::router`] and every
/// route is in it (`tests/gateway_api.rs` checks both ways).
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = GatewayApi::openapi();
    // The original gateway's endpoints (issue 15).
    doc.merge(crate::routes::compat::CompatApi::openapi());
    // The id rules of the protocol, not copies of them.
    nexus_protocol::ids::apply_param_patterns(
        &mut doc,
        &[
            ("workspace_id", nexus_protocol::WorkspaceId::PATTERN),
            ("provider_name", nexus_protocol::ProviderName::PATTERN),
        ],
    );
    doc
}
