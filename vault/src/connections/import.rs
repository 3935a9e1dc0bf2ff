//! Connections for operators: import (a refresh token, an API key, a credential set), list,
//! revoke.

use super::{ConnectionService, credentials_object, secret_string};
use crate::caller::Caller;
use crate::error::VaultError;
use crate::store::connections::{ConnectionInfo, NewConnection, TokenSet};
use nexus_protocol::{ConnectionStatus, Credentials, Strategy};
use serde_json::Value;

/// A connection to import.
pub struct ImportConnection<'a> {
    pub provider_name: &'a str,
    /// `api_key`, `refresh_token` or `credentials`.
    pub kind: &'a str,
    /// A string, or for `credentials` an object of credential fields.
    pub secret: &'a Value,
    pub user_id: Option<&'a str>,
    /// Empty: the provider's default scopes.
    pub scopes: &'a [String],
    /// The connection belongs to the MCP user `user_id` (their user-credential calls use it; the
    /// workspace's own resolves never do), as if they had connected through their connect link.
    pub bound_to_mcp_user: bool,
}

impl ConnectionService {
    pub async fn import_connection(
        &self,
        workspace_id: &str,
        req: &ImportConnection<'_>,
        caller: &Caller,
    ) -> Result<ConnectionInfo, VaultError> {
        self.store.require_workspace(workspace_id).await?;
        if req.bound_to_mcp_user && req.user_id.is_none_or(str::is_empty) {
            return Err(VaultError::invalid(
                "`bound_to_mcp_user` needs `user_id` (the MCP user the connection belongs to)",
            ));
        }
        let provider = self.provider(req.provider_name).await?;
        let (tokens, credentials) = match req.kind {
            "refresh_token" => {
                if !provider.is_oauth2() {
                    return Err(VaultError::invalid(
                        "a refresh token can only be imported for an oauth2 provider",
                    ));
                }
                let token = secret_string(req.secret)?;
                // No access token yet: the first resolve refreshes.
                (
                    Some(TokenSet {
                        refresh_token: Some(token),
                        ..Default::default()
                    }),
                    None,
                )
            }
            "api_key" | "credentials" => {
                if provider.is_oauth2() {
                    return Err(VaultError::invalid(
                        "static credentials can only be imported for a static provider",
                    ));
                }
                let credentials = if req.kind == "api_key" {
                    let mut c = Credentials::default();
                    c.insert("api_key", secret_string(req.secret)?.expose());
                    c
                } else {
                    credentials_object(req.secret)?
                };
                let strategy = Strategy::from_spec(&provider.strategy)
                    .map_err(|e| VaultError::invalid(e.to_string()))?;
                for field in strategy.required_fields() {
                    if credentials.get_str(field).is_none_or(|v| v.is_empty()) {
                        return Err(VaultError::invalid(format!(
                            "the provider's strategy needs credential field `{field}`"
                        )));
                    }
                }
                (None, Some(credentials))
            }
            _ => {
                return Err(VaultError::invalid(
                    "unknown import kind (api_key, refresh_token, credentials)",
                ));
            }
        };
        let scopes = if req.scopes.is_empty() {
            provider.scopes.clone()
        } else {
            req.scopes.to_vec()
        };
        let row = self
            .create_connection(NewConnection {
                workspace_id,
                provider_name: &provider.name,
                user_id: req.user_id,
                status: ConnectionStatus::Active,
                scopes: &scopes,
                tokens: tokens.as_ref(),
                credentials: credentials.as_ref(),
                bound_to_mcp_user: req.bound_to_mcp_user,
            })
            .await?;
        self.audit
            .admin_event(Some(workspace_id), "connection.imported", &row.id, caller)
            .await?;
        Ok(row.info()?)
    }

    /// The connections of a workspace (which must exist).
    pub async fn list(&self, workspace_id: &str) -> Result<Vec<ConnectionInfo>, VaultError> {
        Ok(self.list_page(workspace_id, None, None).await?.0)
    }

    /// One page of a workspace's connections, by keyset: those after `cursor` (from the
    /// previous page), at most `limit`; and the cursor of the next page when this one is full.
    pub async fn list_page(
        &self,
        workspace_id: &str,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<(Vec<ConnectionInfo>, Option<String>), VaultError> {
        self.store.require_workspace(workspace_id).await?;
        let after = cursor.map(parse_cursor).transpose()?;
        let rows = self
            .store
            .list_connections(
                workspace_id,
                after.as_ref().map(|(at, id)| (*at, id.as_str())),
                limit.map(i64::from),
            )
            .await?;
        let next = match (rows.last(), limit) {
            (Some(last), Some(limit)) if rows.len() as u64 == u64::from(limit) => {
                Some(format!("{}.{}", last.created_at, last.id))
            }
            _ => None,
        };
        let infos = rows.iter().map(|r| r.info()).collect::<Result<_, _>>()?;
        Ok((infos, next))
    }
}

/// A listing cursor: `<created_at ms>.<connection id>` of the last row of the previous page.
fn parse_cursor(cursor: &str) -> Result<(i64, String), VaultError> {
    let invalid = || VaultError::invalid("`after` is not a cursor this listing returned");
    let (at, id) = cursor.split_once('.').ok_or_else(invalid)?;
    let at = at.parse().map_err(|_| invalid())?;
    if id.is_empty() || id.len() > 64 {
        return Err(invalid());
    }
    Ok((at, id.to_owned()))
}
