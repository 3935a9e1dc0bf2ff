//! Records of proxied calls: the gateway batches them to the broker's internal API, which
//! writes one `proxy.request` audit record each.

use serde::{Deserialize, Serialize};

/// `POST` (internal API): the gateway's batch of proxied-call records → 204.
pub const AUDIT_BATCH_PATH: &str = "/internal/v1/audit/proxy";

/// One proxied call, as the audit trail records it (action `proxy.request`). Never a header
/// value, a body, the query or a credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyAuditRecord {
    pub request_id: Option<String>,
    pub workspace_id: String,
    /// The principal's audit label (`api_key:<id>`, `session:<id>`).
    pub principal: String,
    pub provider: String,
    pub method: String,
    pub host: String,
    /// The normalised path with id-like segments replaced by `{id}`.
    pub path_template: String,
    /// The upstream's status; 0 when there was none.
    pub status: u16,
    /// `ok`, `upstream_error`, `gateway_error`, `response_truncated`, `client_aborted`.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// To the upstream's response headers.
    pub latency_ms: u64,
    /// To the last byte of the response body.
    pub duration_ms: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    #[serde(default)]
    pub retried_401: bool,
    /// Times an upstream 429/503 was waited out and the call sent again (`retry_on_throttle`).
    #[serde(default)]
    pub throttle_retries: u8,
}

/// Body of [`AUDIT_BATCH_PATH`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyAuditBatch {
    pub records: Vec<ProxyAuditRecord>,
}

/// Most records in one batch (the broker refuses more).
pub const MAX_AUDIT_BATCH: usize = 500;
