//! Signed connect links (design 18 §1): a short-lived, single-use URL that opens the broker's
//! connect page for one workspace (and optionally one end user and a subset of providers).
//!
//! Issued by `POST /admin/v1/workspaces/{ws}/connect-links` (admin token) and printed by
//! `nexus connect`. The URL carries one opaque token (sealed by the broker, not readable or
//! forgeable), which the first `POST /connect/redeem` exchanges for a browser session.

use crate::ids::ProviderName;
use serde::{Deserialize, Serialize};

/// Default lifetime of a connect link, seconds (15 minutes).
pub const CONNECT_LINK_DEFAULT_TTL_SECS: u64 = 15 * 60;
/// Shortest lifetime a caller may ask for, seconds.
pub const CONNECT_LINK_MIN_TTL_SECS: u64 = 60;
/// Longest lifetime a caller may ask for, seconds (24 hours).
pub const CONNECT_LINK_MAX_TTL_SECS: u64 = 24 * 3600;

/// Body of `POST /admin/v1/workspaces/{ws}/connect-links` (every field optional).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ConnectLinkRequest {
    /// The end user whose connections the page shows and creates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Providers the page offers; empty: every provider the broker knows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<ProviderName>,
    /// Lifetime in seconds, 60 ..= 86400 (default 900).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds: Option<u64>,
}

/// Answer of `POST …/connect-links` (201).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConnectLinkResponse {
    /// The link to hand to the person. Single use; a bearer capability until redeemed.
    pub url: String,
    /// RFC 3339.
    pub expires_at: String,
}
