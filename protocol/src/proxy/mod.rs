//! Proxy mode (`/v1/proxy/{workspace_id}/{provider_name}/{path…}`): a provider's `proxy`
//! settings and the gateway's control header.
//!
//! An operator writes [`ProxyConfig`] on a provider (YAML or the admin API); the broker validates
//! it ([`ProxyConfig::check`]) and hands it to the gateway with every resolve answer
//! ([`crate::ResolveResponse::proxy`]), which the gateway removes before answering `/v1/resolve`.
//! Sizes are bytes (`8388608`) or a string with a binary unit (`"8MiB"`, `"64KiB"`); the timeout
//! is seconds (`30`) or a string (`"30s"`, `"500ms"`).
//!
//! - `config.rs`: [`ProxyConfig`] as an operator writes it and its validation.
//! - `units.rs`: sizes (`8MiB`) and durations (`30s`) as the settings spell them.
//! - `audit.rs`: the gateway's records of proxied calls, batched to the broker.

mod audit;
mod config;
mod units;

pub use audit::{AUDIT_BATCH_PATH, MAX_AUDIT_BATCH, ProxyAuditBatch, ProxyAuditRecord};
pub use config::{
    MAX_THROTTLE_ATTEMPTS, MAX_THROTTLE_DELAY_MS, MAX_TIMEOUT_MS, ProxyConfig, ProxyConfigError,
    ThrottleRetry, is_host_port,
};
pub use units::{parse_duration_ms, parse_size};

/// Request header naming an entry of `proxy.allowed_hosts` as the target (`host[:port]`).
pub const PROXY_HOST_HEADER: &str = "nexus-proxy-host";
/// Response header on every answer that is the gateway's own (an error envelope), never on an
/// upstream's answer: its value is the error code. Upstream `nexus-*` headers are stripped.
pub const GATEWAY_ERROR_HEADER: &str = "nexus-error";
/// The public path prefix of proxy mode.
pub const PROXY_PREFIX: &str = "/v1/proxy/";
