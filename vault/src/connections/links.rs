//! Signed connect links (design 18 §1): `{public}/connect/l/v1.{b64url(seal(claims))}`.
//!
//! The claims are sealed with the vault's AES-256-GCM keyring (AAD `connect_links`), so a link
//! is authenticated (not forgeable), opaque (the workspace and user are not readable) and stops
//! opening once its key is retired. A link is single use: redeeming records its `jti`.
//! Opening is a pure function of the token and a clock (`open_connect_link(token, now)`), so
//! expiry is tested without waiting.

use super::ConnectionService;
use crate::caller::Caller;
use crate::crypto::Aad;
use crate::error::VaultError;
use crate::oauth::random_token;
use crate::store::audit::AuditEvent;
use crate::store::rfc3339;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nexus_protocol::connect_link::{
    CONNECT_LINK_DEFAULT_TTL_SECS, CONNECT_LINK_MAX_TTL_SECS, CONNECT_LINK_MIN_TTL_SECS,
    ConnectLinkRequest, ConnectLinkResponse,
};
use serde::{Deserialize, Serialize};

/// Version prefix of the token: a future format gets a new prefix, old links fail cleanly.
const TOKEN_PREFIX: &str = "v1.";
/// A token longer than this is not ours (bounds the work done on hostile input).
const MAX_TOKEN_LEN: usize = 4096;
/// Longest end-user id a link may carry.
pub const MAX_USER_ID_LEN: usize = 256;

/// What a connect link grants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectLinkClaims {
    /// Unique id (single use).
    pub j: String,
    /// Workspace.
    pub w: String,
    /// End user, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub u: Option<String>,
    /// Providers offered (empty: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub p: Vec<String>,
    /// Issued and expiry, unix ms.
    pub i: i64,
    pub e: i64,
}

/// Why a link does not open. The same `Invalid` covers forged, garbled and retired-key links,
/// so a prober learns nothing from the difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    Invalid,
    Expired,
    AlreadyUsed,
}

impl LinkError {
    /// The stable code shown on the error page.
    pub fn code(self) -> &'static str {
        match self {
            Self::Invalid => "link_invalid",
            Self::Expired => "link_expired",
            Self::AlreadyUsed => "link_already_used",
        }
    }
}

fn link_aad() -> Aad<'static> {
    Aad {
        table: "connect_links",
        workspace: "-",
        row: "-",
        column: "v1",
    }
}

impl ConnectionService {
    /// Issue a link for `workspace_id` (which must exist; named providers must exist), and
    /// record it (`connect_link.issued`: who asked, the workspace, providers, user, expiry and
    /// the link's id `j`). The record never holds the link itself: the sealed token is the
    /// bearer secret. No link is answered without its durable record.
    pub async fn issue_connect_link(
        &self,
        workspace_id: &str,
        req: &ConnectLinkRequest,
        now: i64,
        caller: &Caller,
    ) -> Result<ConnectLinkResponse, VaultError> {
        self.store.require_workspace(workspace_id).await?;
        let ttl = req.ttl_seconds.unwrap_or(CONNECT_LINK_DEFAULT_TTL_SECS);
        if !(CONNECT_LINK_MIN_TTL_SECS..=CONNECT_LINK_MAX_TTL_SECS).contains(&ttl) {
            return Err(VaultError::invalid(format!(
                "`ttl_seconds` must be between {CONNECT_LINK_MIN_TTL_SECS} and {CONNECT_LINK_MAX_TTL_SECS}"
            )));
        }
        if let Some(user) = &req.user_id {
            check_user_id(user)?;
        }
        for p in &req.providers {
            self.provider(p.as_str()).await?;
        }
        let claims = ConnectLinkClaims {
            j: random_token(16),
            w: workspace_id.to_owned(),
            u: req.user_id.clone(),
            p: req
                .providers
                .iter()
                .map(|p| p.as_str().to_owned())
                .collect(),
            i: now,
            e: now + (ttl as i64) * 1000,
        };
        let json = serde_json::to_string(&claims).map_err(|_| VaultError::Internal)?;
        let sealed = self.store.sealer().seal(&json, &link_aad());
        let detail = serde_json::json!({
            "link_id": claims.j,
            "providers": claims.p,
            "user_id": claims.u,
            "expires_at": rfc3339(claims.e),
        })
        .to_string();
        self.store
            .audit_required(AuditEvent {
                workspace_id: Some(workspace_id),
                action: "connect_link.issued",
                target: Some(&claims.j),
                principal: &caller.principal,
                outcome: "ok",
                request_id: caller.request_id.as_deref(),
                detail: Some(&detail),
            })
            .await?;
        Ok(ConnectLinkResponse {
            url: format!(
                "{}/connect/l/{TOKEN_PREFIX}{}",
                self.public_url,
                URL_SAFE_NO_PAD.encode(sealed)
            ),
            expires_at: rfc3339(claims.e),
        })
    }

    /// Open and check a link without using it (the interstitial page).
    pub fn open_connect_link(&self, token: &str, now: i64) -> Result<ConnectLinkClaims, LinkError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(LinkError::Invalid);
        }
        let body = token.strip_prefix(TOKEN_PREFIX).ok_or(LinkError::Invalid)?;
        let sealed = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| LinkError::Invalid)?;
        let json = self
            .store
            .sealer()
            .open(&sealed, &link_aad())
            .map_err(|_| LinkError::Invalid)?;
        let claims: ConnectLinkClaims =
            serde_json::from_str(&json).map_err(|_| LinkError::Invalid)?;
        if claims.e <= now {
            return Err(LinkError::Expired);
        }
        Ok(claims)
    }

    /// Use a link: it opens, has not expired, and was not used before (recorded now).
    pub async fn redeem_connect_link(
        &self,
        token: &str,
        now: i64,
    ) -> Result<ConnectLinkClaims, RedeemError> {
        let claims = self.open_connect_link(token, now)?;
        // Housekeeping on the (rare) redeem path: expired sessions and ledger rows go.
        self.store
            .prune_browser_state(now)
            .await
            .map_err(VaultError::from)?;
        if !self
            .store
            .record_link_use(&claims.j, now, claims.e)
            .await
            .map_err(VaultError::from)?
        {
            return Err(LinkError::AlreadyUsed.into());
        }
        Ok(claims)
    }
}

/// A redeem fails on the link, or on the vault.
#[derive(Debug)]
pub enum RedeemError {
    Link(LinkError),
    Vault(VaultError),
}

impl From<LinkError> for RedeemError {
    fn from(e: LinkError) -> Self {
        Self::Link(e)
    }
}

impl From<VaultError> for RedeemError {
    fn from(e: VaultError) -> Self {
        Self::Vault(e)
    }
}

/// An end-user id: 1..=256 printable characters.
pub fn check_user_id(user: &str) -> Result<(), VaultError> {
    if user.is_empty() || user.len() > MAX_USER_ID_LEN || user.chars().any(char::is_control) {
        return Err(VaultError::invalid(format!(
            "`user_id` must be 1 to {MAX_USER_ID_LEN} printable characters"
        )));
    }
    Ok(())
}
