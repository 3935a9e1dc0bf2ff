//! Revoking a connection: the secrets are dropped from the store, the revocation is audited,
//! and (RFC 7009) the tokens are revoked at the provider when it has a revocation endpoint. The
//! same operation serves the admin API and `DELETE /v1/connections/{id}`.

use super::{ConnectionService, connection_not_found};
use crate::caller::Caller;
use crate::error::VaultError;
use crate::store::audit::AuditEvent;
use nexus_protocol::ConnectionStatus;

/// Longest revocation reason kept in the audit record (a caller's free text).
const MAX_REASON_CHARS: usize = 200;

/// What a revocation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevokeOutcome {
    /// The connection held a token or credentials, now deleted.
    pub token_deleted: bool,
    /// The provider accepted an RFC 7009 revocation of the connection's tokens.
    pub provider_revoked: bool,
}

impl ConnectionService {
    /// Revoke a connection of `workspace_id`. `reason` (free text, shortened) goes to the audit
    /// record and the connection's `last_error`. The provider is asked to revoke the tokens
    /// after the store no longer holds them; its failure is logged, never the caller's error
    /// (the connection is revoked here either way).
    pub async fn revoke_connection(
        &self,
        workspace_id: &str,
        id: &str,
        reason: Option<&str>,
        caller: &Caller,
    ) -> Result<RevokeOutcome, VaultError> {
        let row = self
            .store
            .get_connection(workspace_id, id)
            .await?
            .ok_or_else(connection_not_found)?;
        // Opened before the row forgets them: what the provider is asked to revoke.
        let refresh = self.store.open_refresh_token(&row)?;
        let access = self.store.open_access_token(&row)?;
        let had_credentials = self.store.open_credentials(&row)?.is_some();
        let reason: Option<String> = reason
            .map(|r| {
                r.chars()
                    .filter(|c| !c.is_control())
                    .take(MAX_REASON_CHARS)
                    .collect()
            })
            .filter(|r: &String| !r.trim().is_empty());
        let last_error = reason.as_deref().unwrap_or("revoked");
        if !self.mark_revoked(workspace_id, id, last_error).await? {
            return Err(connection_not_found());
        }
        // The same RFC 7009 call as the connect page's disconnect (one rule).
        let provider_revoked = matches!(
            self.revocation_at_provider(&row).await,
            super::revocation::Revocation::Revoked
        );
        self.store
            .audit_required(AuditEvent {
                workspace_id: Some(workspace_id),
                action: "connection.revoked",
                target: Some(id),
                principal: &caller.principal,
                outcome: "ok",
                request_id: caller.request_id.as_deref(),
                detail: reason.as_deref(),
            })
            .await?;
        Ok(RevokeOutcome {
            token_deleted: refresh.is_some() || access.is_some() || had_credentials,
            provider_revoked,
        })
    }

    /// Mark the connection revoked (its secrets dropped) and queue `connection.revoked` for
    /// webhooks in the same transaction, so the event exists exactly when the change does.
    /// Shared by revoke and the connect page's disconnect. False when there is no such row.
    pub(super) async fn mark_revoked(
        &self,
        workspace_id: &str,
        id: &str,
        last_error: &str,
    ) -> Result<bool, VaultError> {
        let mut tx = self.store.begin_locking().await?;
        if !self
            .store
            .set_connection_status_in(
                &mut tx,
                workspace_id,
                id,
                ConnectionStatus::Revoked,
                Some(last_error),
            )
            .await?
        {
            return Ok(false);
        }
        crate::events::emit(
            &self.store,
            &mut tx,
            workspace_id,
            id,
            nexus_protocol::webhooks::ConnectionEventKind::Revoked,
            None,
        )
        .await?;
        tx.commit().await.map_err(crate::store::StoreError::from)?;
        Ok(true)
    }
}
