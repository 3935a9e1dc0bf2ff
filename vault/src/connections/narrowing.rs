//! Scope narrowing: the access token handed to an agent session carries only the session's
//! provider scopes ∩ the connection's, when the provider honours `scope` on refresh.
//!
//! The narrowed token is minted by a refresh with `scope=<intersection>` under the same row
//! lock the refresh engine uses, so a provider that rotates refresh tokens never sees the old
//! one twice (the rotated refresh token is stored; the connection's own full-scope access token
//! is left as it is). Narrowed tokens are kept in memory only, per (connection, scope set), and
//! reused until a minute before they expire.

use super::ConnectionService;
use super::gates::KeyedGates;
use super::refresh::status_error;
use crate::error::VaultError;
use crate::providers::Provider;
use crate::store::{StoreError, now_ms};
use nexus_protocol::{ConnectionStatus, SecretString};
use parking_lot::Mutex;
use std::collections::HashMap;

/// A narrowed token is minted again when it has less than this left.
const REUSE_MARGIN_MS: i64 = 60_000;

/// An access token minted for a scope set.
#[derive(Clone)]
pub struct NarrowedToken {
    pub access_token: SecretString,
    pub token_type: Option<String>,
    /// Unix milliseconds.
    pub expires_at: Option<i64>,
}

/// Narrowed tokens by (connection id, space-joined sorted scopes), and a gate per connection:
/// one mint at a time per connection in this process (a mint refreshes with the connection's
/// refresh token under its row lock, so two at once would only queue on that lock), while
/// different connections mint concurrently.
#[derive(Default)]
pub struct NarrowedTokens {
    cache: Mutex<HashMap<(String, String), NarrowedToken>>,
    mint_gates: KeyedGates,
}

impl NarrowedTokens {
    fn get(&self, key: &(String, String)) -> Option<NarrowedToken> {
        self.cache
            .lock()
            .get(key)
            .filter(|t| {
                t.expires_at
                    .is_none_or(|at| at - now_ms() > REUSE_MARGIN_MS)
            })
            .cloned()
    }
}

impl ConnectionService {
    /// A token for `scopes` (sorted, non-empty) of connection `connection_id`, or `None` when
    /// the connection has no refresh token to narrow with.
    pub async fn narrowed_token(
        &self,
        workspace_id: &str,
        connection_id: &str,
        provider: &Provider,
        scopes: &[String],
    ) -> Result<Option<NarrowedToken>, VaultError> {
        let key = (connection_id.to_owned(), scopes.join(" "));
        if let Some(hit) = self.narrowed.get(&key) {
            return Ok(Some(hit));
        }
        let gate = self.narrowed.mint_gates.gate(connection_id);
        let _turn = gate.lock().await;
        if let Some(hit) = self.narrowed.get(&key) {
            return Ok(Some(hit));
        }
        let secret = self.store.provider_client_secret(&provider.name).await?;
        let _sqlite_turn = self.refresh.sqlite_turn().await;
        let mut tx = self.store.begin_locking().await?;
        let locked = self
            .store
            .lock_connection(&mut tx, workspace_id, connection_id)
            .await?
            .ok_or_else(|| VaultError::not_found("connection not found"))?;
        if locked.status != ConnectionStatus::Active {
            return Err(status_error(&locked));
        }
        let Some(refresh_token) = self.store.open_refresh_token(&locked)? else {
            return Ok(None);
        };
        let response = self
            .oauth
            .refresh_scoped(provider, secret.as_ref(), &refresh_token, scopes)
            .await
            .map_err(|e| VaultError::upstream(format!("could not narrow the token: {e}")))?;
        if let Some(rotated) = &response.tokens.refresh_token {
            self.store
                .write_rotated_refresh_token(&mut tx, &locked, rotated)
                .await?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        let access_token = response
            .tokens
            .access_token
            .ok_or_else(|| VaultError::upstream("the provider returned no access token"))?;
        let token = NarrowedToken {
            access_token,
            token_type: response.tokens.token_type,
            expires_at: response.tokens.expires_at,
        };
        self.narrowed.cache.lock().insert(key, token.clone());
        tracing::info!(connection = %connection_id, provider = %provider.name, "minted a narrowed access token");
        Ok(Some(token))
    }
}
