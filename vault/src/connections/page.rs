//! What the connect page shows and does for one browser session (a workspace, maybe an end
//! user, maybe a subset of providers): each provider with the session's connection to it, the
//! fields of a static credential form, starting an OAuth flow, reconnecting, and saving a static
//! credential. The broker only renders these answers.

use super::{ConnectionService, check_storable, connection_not_found};
use crate::caller::Caller;
use crate::error::VaultError;
use crate::providers::Provider;
use crate::store::audit::AuditEvent;
use crate::store::connections::{ConnectionRow, NewConnection};
use nexus_protocol::{ConnectionStatus, Credentials, RequestConnectionInput, Strategy};

/// Longest value a form field takes (a credential longer than this is not one).
pub const MAX_FIELD_LEN: usize = 4096;

/// One input of a static credential form, derived from the provider's strategy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectField {
    /// The credential field name (also the form input name).
    pub name: String,
    /// What a person reads.
    pub label: String,
    /// Secret fields are password inputs and are never written back into a page.
    pub secret: bool,
}

/// One provider on the connect page.
#[derive(Clone)]
pub struct ProviderCard {
    pub name: String,
    pub label: String,
    pub oauth: bool,
    /// The session's most useful connection to it, if any.
    pub connection: Option<ConnectionRow>,
}

/// Who the page acts for.
pub struct PageScope<'a> {
    pub workspace_id: &'a str,
    pub user_id: Option<&'a str>,
    /// Empty: every provider.
    pub providers: &'a [String],
}

impl PageScope<'_> {
    fn allows(&self, provider: &str) -> bool {
        self.providers.is_empty() || self.providers.iter().any(|p| p == provider)
    }

    fn caller(&self) -> Caller {
        Caller {
            principal: format!("connect_page:{}", self.user_id.unwrap_or("-")),
            request_id: None,
        }
    }
}

/// The form of a static provider: one input per credential field its strategy reads.
pub fn connect_fields(provider: &Provider) -> Result<Vec<ConnectField>, VaultError> {
    let strategy =
        Strategy::from_spec(&provider.strategy).map_err(|e| VaultError::invalid(e.to_string()))?;
    Ok(strategy
        .required_fields()
        .into_iter()
        .map(|name| ConnectField {
            name: name.to_owned(),
            label: field_label(name),
            secret: !matches!(
                name,
                "username" | "user" | "access_key" | "account" | "email"
            ),
        })
        .collect())
}

fn field_label(name: &str) -> String {
    match name {
        "api_key" => "API key".into(),
        "access_key" => "Access key ID".into(),
        "secret_key" => "Secret access key".into(),
        other => {
            let spaced = other.replace(['_', '-'], " ");
            let mut chars = spaced.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect())
                .unwrap_or_default()
        }
    }
}

fn label_of(p: &Provider) -> String {
    p.display_name.clone().unwrap_or_else(|| p.name.clone())
}

impl ConnectionService {
    /// The providers the scope may connect, each with its connection.
    pub async fn page_cards(&self, scope: &PageScope<'_>) -> Result<Vec<ProviderCard>, VaultError> {
        let mut connections = self
            .store
            .connections_of_user(scope.workspace_id, scope.user_id)
            .await?;
        let mut cards = Vec::new();
        for stored in self.store.list_providers().await? {
            let p = stored.provider;
            if !scope.allows(&p.name) {
                continue;
            }
            // Rows come sorted by provider, most useful first.
            let connection = connections
                .iter()
                .position(|c| c.provider_name == p.name)
                .map(|i| connections.remove(i));
            cards.push(ProviderCard {
                label: label_of(&p),
                oauth: p.is_oauth2(),
                name: p.name,
                connection,
            });
        }
        Ok(cards)
    }

    /// The origins of the OAuth providers' authorize endpoints among `cards`: the connect page's
    /// forms answer with a redirect there, which its `form-action` policy must allow.
    pub async fn authorize_origins(&self, cards: &[ProviderCard]) -> Vec<String> {
        let mut origins = Vec::new();
        for card in cards.iter().filter(|c| c.oauth) {
            let Ok(p) = self.provider(&card.name).await else {
                continue;
            };
            let Ok(endpoints) = self.oauth.endpoints(&p).await else {
                continue;
            };
            if let Ok(url) = url::Url::parse(&endpoints.authorize) {
                let origin = url.origin().ascii_serialization();
                if url.origin().is_tuple() && !origins.contains(&origin) {
                    origins.push(origin);
                }
            }
        }
        origins
    }

    /// A provider the scope may connect, or `provider_not_found` (same answer for both, so a
    /// session cannot probe providers outside its link).
    pub async fn page_provider(
        &self,
        scope: &PageScope<'_>,
        name: &str,
    ) -> Result<(Provider, String), VaultError> {
        if !scope.allows(name) {
            return Err(VaultError::provider_not_found(
                "no such provider on this page",
            ));
        }
        let p = self.provider(name).await?;
        let label = label_of(&p);
        Ok((p, label))
    }

    /// Start an OAuth flow for a new connection; the callback returns to `return_url`.
    pub async fn page_start_oauth(
        &self,
        scope: &PageScope<'_>,
        name: &str,
        return_url: &str,
    ) -> Result<String, VaultError> {
        let (p, _) = self.page_provider(scope, name).await?;
        if !p.is_oauth2() {
            return Err(VaultError::invalid("this provider takes a credential form"));
        }
        let input = RequestConnectionInput {
            user_id: scope.user_id.unwrap_or_default().to_owned(),
            provider_name: p.name.clone(),
            scopes: Vec::new(),
            return_url: Some(return_url.to_owned()),
            metadata: Default::default(),
        };
        let started = self
            .request_connection(scope.workspace_id, &input, &scope.caller())
            .await?;
        Ok(started.auth_url)
    }

    /// A connection of this scope, by id.
    pub async fn page_connection(
        &self,
        scope: &PageScope<'_>,
        id: &str,
    ) -> Result<ConnectionRow, VaultError> {
        self.store
            .get_connection(scope.workspace_id, id)
            .await?
            .filter(|r| {
                r.user_id.as_deref() == scope.user_id
                    && !r.bound_to_mcp_user
                    && scope.allows(&r.provider_name)
            })
            .ok_or_else(connection_not_found)
    }

    /// Authorize an existing OAuth connection again (same id, same scopes).
    pub async fn page_reconnect(
        &self,
        scope: &PageScope<'_>,
        id: &str,
        return_url: &str,
    ) -> Result<String, VaultError> {
        let row = self.page_connection(scope, id).await?;
        if !matches!(
            row.status,
            ConnectionStatus::NeedsReauth | ConnectionStatus::Failed | ConnectionStatus::Active
        ) {
            return Err(VaultError::invalid(
                "only a connection that needs repair can be reconnected",
            ));
        }
        let p = self.provider(&row.provider_name).await?;
        if !p.is_oauth2() {
            return Err(VaultError::invalid("this provider takes a credential form"));
        }
        let scopes = row.scopes.clone();
        Ok(self
            .start_flow(&row, &p, &scopes, Some(return_url))
            .await?
            .auth_url)
    }

    /// Save a static credential from the form: every declared field present, bounded, printable;
    /// nothing else accepted. Updates the scope's live connection, else creates one.
    pub async fn page_save_static(
        &self,
        scope: &PageScope<'_>,
        name: &str,
        submitted: &[(String, String)],
    ) -> Result<(), VaultError> {
        let (p, _) = self.page_provider(scope, name).await?;
        if p.is_oauth2() {
            return Err(VaultError::invalid("this provider connects through OAuth"));
        }
        let fields = connect_fields(&p)?;
        let mut credentials = Credentials::default();
        for (key, _) in submitted {
            if !fields.iter().any(|f| &f.name == key) {
                return Err(VaultError::invalid(
                    "the form has a field this provider does not take",
                ));
            }
        }
        for f in &fields {
            let value = submitted
                .iter()
                .find(|(k, _)| k == &f.name)
                .map(|(_, v)| v.trim())
                .unwrap_or_default();
            if value.is_empty() {
                return Err(VaultError::invalid(format!("{} is required", f.label)));
            }
            if value.len() > MAX_FIELD_LEN {
                return Err(VaultError::invalid(format!(
                    "{} is too long (at most {MAX_FIELD_LEN} characters)",
                    f.label
                )));
            }
            check_storable(&f.label, value)?;
            credentials.insert(f.name.clone(), value);
        }
        let existing = self
            .store
            .connections_of_user(scope.workspace_id, scope.user_id)
            .await?
            .into_iter()
            .find(|c| c.provider_name == p.name && c.status != ConnectionStatus::Revoked);
        let id = match existing {
            Some(row) => {
                self.store_static_credentials(scope.workspace_id, &row.id, &credentials)
                    .await?;
                row.id
            }
            None => {
                self.create_connection(NewConnection {
                    workspace_id: scope.workspace_id,
                    provider_name: &p.name,
                    user_id: scope.user_id,
                    status: ConnectionStatus::Active,
                    scopes: &p.scopes,
                    tokens: None,
                    credentials: Some(&credentials),
                    bound_to_mcp_user: false,
                })
                .await?
                .id
            }
        };
        self.store
            .audit_required(AuditEvent {
                workspace_id: Some(scope.workspace_id),
                action: "connection.credentials_captured",
                target: Some(&id),
                principal: &scope.caller().principal,
                outcome: "ok",
                request_id: None,
                detail: Some(&p.name),
            })
            .await?;
        Ok(())
    }
}
