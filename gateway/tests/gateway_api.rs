//! The gateway over real HTTP on loopback, in front of the real broker and a fake OAuth
//! provider (see `common`).

#[path = "gateway_api/auth_scoping.rs"]
mod auth_scoping;
mod common;
#[path = "gateway_api/docs_observability.rs"]
mod docs_observability;
#[path = "gateway_api/resolve_broker.rs"]
mod resolve_broker;

const WS: &str = "acme";
const OTHER_WS: &str = "globex";

fn resolve_query(ws: &str, provider: &str) -> String {
    format!("workspace_id={ws}&provider_name={provider}")
}
