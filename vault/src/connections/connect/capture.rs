//! The static-credential step of the connect flow: the form's fields and the submission that
//! stores the credentials.

use crate::connections::ConnectionService;
use crate::error::VaultError;
use crate::store::StoreError;
use crate::store::audit::AuditEvent;
use nexus_protocol::{Credentials, Strategy};

impl ConnectionService {
    /// What the static-credential step asks for: the provider and the credential fields its
    /// strategy reads (the broker's form and `GET /v1/capture-schema` show the same list).
    pub async fn capture_form(&self, state: &str) -> Result<CaptureForm, VaultError> {
        let (_, provider_name, expired) = self
            .store
            .peek_pending(state)
            .await?
            .ok_or_else(bad_state)?;
        if expired {
            return Err(bad_state());
        }
        let provider = self.provider(&provider_name).await?;
        let strategy = Strategy::from_spec(&provider.strategy)
            .map_err(|e| VaultError::invalid(e.to_string()))?;
        let fields = strategy
            .required_fields()
            .iter()
            .map(|s| s.to_string())
            .collect();
        Ok(CaptureForm {
            display_name: provider
                .display_name
                .unwrap_or_else(|| provider.name.clone()),
            provider_name: provider.name,
            fields,
        })
    }

    /// Store what the static-credential step captured (the broker's form and
    /// `POST /v1/capture-credential`): every required field present, none with a control
    /// character, the one-time state used up, the connection active. Values are never echoed.
    pub async fn capture_credentials(
        &self,
        state: &str,
        fields: &std::collections::HashMap<String, String>,
    ) -> Result<Captured, VaultError> {
        let form = self.capture_form(state).await?;
        let mut credentials = Credentials::default();
        for name in &form.fields {
            match fields.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
                Some(v) => {
                    crate::connections::check_storable(name, v)?;
                    credentials.insert(name.clone(), v);
                }
                None => return Err(VaultError::invalid(format!("field `{name}` is required"))),
            }
        }
        let pending = self
            .store
            .take_pending(state)
            .await?
            .ok_or_else(bad_state)?;
        self.store_static_credentials(&pending.workspace_id, &pending.connection_id, &credentials)
            .await?;
        self.store
            .audit_required(AuditEvent {
                workspace_id: Some(&pending.workspace_id),
                action: "connection.credentials_captured",
                target: Some(&pending.connection_id),
                principal: "browser",
                outcome: "ok",
                request_id: None,
                detail: Some(&pending.provider_name),
            })
            .await?;
        let redirect_url = pending
            .return_url
            .and_then(|u| url::Url::parse(&u).ok())
            .map(|mut url| {
                url.query_pairs_mut()
                    .append_pair("status", "success")
                    .append_pair("connection_id", &pending.connection_id);
                url.to_string()
            });
        Ok(Captured {
            connection_id: pending.connection_id,
            redirect_url,
        })
    }

    /// Store static credentials on an existing connection and make it active, with the health
    /// change and its event in the same transaction. Shared by the capture form (`/connect`,
    /// `capture-credential`) and the connect page's reconnect.
    pub(in crate::connections) async fn store_static_credentials(
        &self,
        workspace_id: &str,
        id: &str,
        credentials: &Credentials,
    ) -> Result<(), VaultError> {
        let mut tx = self.store.begin_locking().await?;
        let before = self
            .store
            .lock_connection(&mut tx, workspace_id, id)
            .await?
            .ok_or_else(crate::connections::connection_not_found)?;
        self.store
            .set_credentials(&mut tx, workspace_id, id, credentials)
            .await?;
        crate::connections::health::record_activation(&self.store, &mut tx, &before).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }
}

/// See [`ConnectionService::capture_form`].
pub struct CaptureForm {
    pub provider_name: String,
    /// What a person reads: the display name, else the name.
    pub display_name: String,
    pub fields: Vec<String>,
}

/// See [`ConnectionService::capture_credentials`].
pub struct Captured {
    pub connection_id: String,
    /// The caller's `return_url` with `status=success&connection_id=…`, if it gave one.
    pub redirect_url: Option<String>,
}

/// One answer for every state that cannot be used (unknown, already used, expired): the state
/// is the credential here, so which of the three it was is not said.
fn bad_state() -> VaultError {
    VaultError::invalid("this link is unknown, already used or expired")
}
