//! Identity audit records: every session creation and revocation, authorize check, session
//! resolve and On-Behalf-Of exchange, allowed or denied, with the reason.
//!
//! A token issued is recorded by its fingerprint, HMAC-SHA256 under a key derived from the
//! active master key: the same token always gives the same fingerprint (so a record can be
//! matched with a token in hand), but the record alone cannot be turned back into a token.

use crate::error::VaultError;
use crate::store::audit::AuditEvent;
use crate::store::audit_chain::AuditIdentity;
use crate::store::{Store, StoreError};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const FINGERPRINT_LABEL: &str = "nexus-audit-token-fingerprint-v1";

/// One identity decision to record.
#[derive(Debug, Clone, Default)]
pub struct Decision<'a> {
    pub workspace_id: &'a str,
    /// `session.created`, `session.revoked`, `session.authorize`, `session.resolve`,
    /// `session.token_exchange`.
    pub action: &'a str,
    /// The provider or the scope concerned.
    pub target: Option<&'a str>,
    pub agent_id: Option<&'a str>,
    pub session_id: Option<&'a str>,
    /// The acting-for user (On-Behalf-Of).
    pub user: Option<&'a str>,
    /// The user's permissions as the user token stated them.
    pub user_scopes: Option<&'a [String]>,
    /// Scopes granted or checked.
    pub scopes: Option<&'a [String]>,
    pub allowed: bool,
    pub reason: &'a str,
    pub request_id: Option<&'a str>,
    /// A token issued by this decision (only its fingerprint is recorded).
    pub issued_token: Option<&'a str>,
}

/// HMAC-SHA256 of `token` under the audit fingerprint key, hex.
pub fn fingerprint(store: &Store, token: &str) -> String {
    let key = store.sealer().derive_key(FINGERPRINT_LABEL);
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(token.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Write the record of a refusal or revocation (a failure is logged by the store, not
/// returned: the caller's answer does not depend on it).
pub async fn record(store: &Store, d: Decision<'_>) {
    if let Err(e) = write(store, &d).await {
        tracing::error!(error = %e, action = d.action, "could not write audit record");
    }
}

/// Write the record of a decision that hands out a token, before the token is answered: the
/// error (`upstream_unavailable`) when it cannot be made durable, so the caller fails closed.
pub async fn record_required(store: &Store, d: Decision<'_>) -> Result<(), VaultError> {
    Ok(write(store, &d).await?)
}

async fn write(store: &Store, d: &Decision<'_>) -> Result<(), StoreError> {
    let detail = serde_json::json!({
        "decision": if d.allowed { "allowed" } else { "denied" },
        "reason": d.reason,
        "scopes": d.scopes,
        "user_scopes": d.user_scopes,
        "token_fingerprint": d.issued_token.map(|t| fingerprint(store, t)),
    })
    .to_string();
    let principal = match (d.session_id, d.agent_id) {
        (Some(s), _) => format!("session:{s}"),
        (None, Some(a)) => format!("agent:{a}"),
        (None, None) => "anonymous".to_owned(),
    };
    store
        .audit_as_required(
            AuditEvent {
                workspace_id: Some(d.workspace_id),
                action: d.action,
                target: d.target,
                principal: &principal,
                outcome: if d.allowed { "allowed" } else { "denied" },
                request_id: d.request_id,
                detail: Some(&detail),
            },
            AuditIdentity {
                agent_id: d.agent_id,
                session_id: d.session_id,
                user_subject: d.user,
            },
        )
        .await
}
