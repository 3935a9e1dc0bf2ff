//! Who a `client_id` is. An `https` URL is a Client ID Metadata Document, fetched
//! ([`cimd_fetch`]), validated ([`cimd_validate`]) and cached in `oauth_clients`; anything else
//! must have been registered ([`registration`], RFC 7591) or pre-registered. [`auth`]
//! authenticates a client at the token and revocation endpoints.

pub mod auth;
pub mod cimd_fetch;
pub mod cimd_validate;
pub mod registration;

use super::AuthorizationServerService;
use crate::store::now_ms;
use crate::store::oauth_clients::ClientRow;
use cimd_fetch::CimdError;

/// A failed document is not refetched for this long (negative cache).
const NEGATIVE_CACHE_MS: i64 = 30_000;

/// Why a client is unknown or unusable. `reason` is a fixed code shown on the error page.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct ClientRefusal {
    pub reason: String,
}

impl ClientRefusal {
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }
}

impl From<CimdError> for ClientRefusal {
    fn from(e: CimdError) -> Self {
        Self::new(e.reason())
    }
}

impl AuthorizationServerService {
    /// Is this `client_id` a metadata document URL (as opposed to a registered id)?
    pub fn is_document_client_id(&self, client_id: &str) -> bool {
        client_id.starts_with("https://")
            || (self.config.cimd_allow_loopback && client_id.starts_with("http://"))
    }

    /// The client named by `client_id`: its cached document while fresh, else a new fetch.
    pub async fn resolve_client(&self, client_id: &str) -> Result<ClientRow, ClientRefusal> {
        if client_id.is_empty() || client_id.len() > super::redirect_uri::MAX_URI_LEN {
            return Err(ClientRefusal::new("client_id_invalid"));
        }
        let stored = self
            .store
            .oauth_client(client_id)
            .await
            .map_err(|_| ClientRefusal::new("server_error"))?;
        if !self.is_document_client_id(client_id) {
            return stored.ok_or_else(|| ClientRefusal::new("client_unknown"));
        }
        let stored = stored.filter(|r| r.kind == "cimd");
        if let Some(row) = &stored
            && row.cache_expires_at.is_some_and(|t| t > now_ms())
        {
            return match &row.fetch_error {
                Some(reason) => Err(ClientRefusal::new(reason.clone())),
                None => Ok(row.clone()),
            };
        }
        match self.fetch_document_client(client_id).await {
            Ok(mut row) => {
                // A refetch replaces the document, not the admin's agent binding (the store
                // keeps it too): without this the request that refetched would carry no `act`
                // and escape a disabled agent and its scope ceiling.
                if let Some(old) = stored {
                    row.agent_id = old.agent_id;
                    row.workspace_id = old.workspace_id;
                }
                self.store
                    .upsert_oauth_client(&row)
                    .await
                    .map_err(|_| ClientRefusal::new("client_id_taken"))?;
                Ok(row)
            }
            Err(e) => {
                let reason = e.reason();
                tracing::info!(reason, "client metadata document refused");
                let negative = ClientRow {
                    client_id: client_id.to_owned(),
                    kind: "cimd".into(),
                    metadata: "{}".into(),
                    redirect_uris: vec![],
                    grant_types: vec![],
                    token_endpoint_auth_method: "none".into(),
                    client_secret_hash: None,
                    agent_id: None,
                    workspace_id: None,
                    cache_expires_at: Some(now_ms() + NEGATIVE_CACHE_MS),
                    fetch_error: Some(reason.clone()),
                };
                let _ = self.store.upsert_oauth_client(&negative).await;
                Err(ClientRefusal::new(reason))
            }
        }
    }

    async fn fetch_document_client(&self, client_id: &str) -> Result<ClientRow, CimdError> {
        let fetched = cimd_fetch::fetch(client_id, &self.config).await?;
        let doc = cimd_validate::validate(client_id, &fetched.body)?;
        Ok(ClientRow {
            client_id: client_id.to_owned(),
            kind: "cimd".into(),
            metadata: serde_json::to_string(&doc.metadata).unwrap_or_else(|_| "{}".into()),
            redirect_uris: doc.metadata.redirect_uris.clone(),
            grant_types: doc.grant_types,
            token_endpoint_auth_method: "none".into(),
            client_secret_hash: None,
            agent_id: None,
            workspace_id: None,
            cache_expires_at: Some(now_ms() + fetched.max_age_ms),
            fetch_error: None,
        })
    }
}

/// The client's display name from its stored metadata.
pub fn client_name(row: &ClientRow) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(&row.metadata)
        .ok()?
        .get("client_name")?
        .as_str()
        .map(str::to_owned)
}
