//! The webhook admin operations: add an endpoint (its secret shown once), list, remove, rotate
//! the secret with an overlap, list deliveries, redeliver.

use super::guard::check_url;
use super::sign::generate_secret;
use crate::audit::AuditService;
use crate::caller::Caller;
use crate::error::VaultError;
use crate::store::webhooks::NewEndpoint;
use crate::store::{Store, now_ms, rfc3339};
use nexus_protocol::webhooks::{
    ConnectionEventKind, CreateWebhookRequest, CreatedWebhook, DeliveryState, RedeliverResponse,
    RotateWebhookSecretRequest, RotatedWebhookSecret, WebhookDelivery, WebhookEndpoint,
};

/// The longest overlap of a rotation (7 days) and the default one (1 day).
const MAX_OVERLAP_SECS: u64 = 604_800;
const DEFAULT_OVERLAP_SECS: u64 = 86_400;
const MAX_DESCRIPTION: usize = 200;
const MAX_URL: usize = 2048;

pub struct WebhookService {
    store: Store,
    audit: AuditService,
    allow_loopback: bool,
}

impl WebhookService {
    pub(crate) fn new(store: Store, audit: AuditService, allow_loopback: bool) -> Self {
        Self {
            store,
            audit,
            allow_loopback,
        }
    }

    pub async fn create(
        &self,
        req: CreateWebhookRequest,
        caller: &Caller,
    ) -> Result<CreatedWebhook, VaultError> {
        if req.url.len() > MAX_URL {
            return Err(VaultError::invalid("`url` is longer than 2048 characters"));
        }
        check_url(&req.url, self.allow_loopback).map_err(VaultError::invalid)?;
        if req
            .description
            .as_deref()
            .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION)
        {
            return Err(VaultError::invalid(
                "`description` is longer than 200 characters",
            ));
        }
        let mut events = Vec::new();
        for name in &req.events {
            let kind = ConnectionEventKind::parse(name).ok_or_else(|| {
                VaultError::invalid(format!(
                    "unknown event type `{}`; valid types: {}",
                    name.chars().take(64).collect::<String>(),
                    ConnectionEventKind::names()
                ))
            })?;
            if !events.contains(&kind.as_str().to_owned()) {
                events.push(kind.as_str().to_owned());
            }
        }
        if let Some(ws) = &req.workspace_id {
            self.store.require_workspace(ws).await?;
        }
        let id = format!("we_{}", uuid::Uuid::new_v4().simple());
        let secret = generate_secret();
        self.store
            .insert_webhook_endpoint(NewEndpoint {
                id: &id,
                workspace_id: req.workspace_id.as_deref(),
                url: &req.url,
                description: req.description.as_deref(),
                events: &events,
                secret: &secret,
            })
            .await?;
        self.audit
            .admin_event(req.workspace_id.as_deref(), "webhook.created", &id, caller)
            .await?;
        Ok(CreatedWebhook {
            id,
            url: req.url,
            events,
            secret,
        })
    }

    pub async fn list(&self) -> Result<Vec<WebhookEndpoint>, VaultError> {
        Ok(self.store.list_webhook_endpoints().await?)
    }

    pub async fn remove(&self, id: &str, caller: &Caller) -> Result<(), VaultError> {
        if !self.store.delete_webhook_endpoint(id).await? {
            return Err(not_found());
        }
        self.audit
            .admin_event(None, "webhook.deleted", id, caller)
            .await?;
        Ok(())
    }

    pub async fn rotate_secret(
        &self,
        id: &str,
        req: RotateWebhookSecretRequest,
        caller: &Caller,
    ) -> Result<RotatedWebhookSecret, VaultError> {
        let overlap = req.overlap_seconds.unwrap_or(DEFAULT_OVERLAP_SECS);
        if overlap > MAX_OVERLAP_SECS {
            return Err(VaultError::invalid(
                "`overlap_seconds` must be at most 604800 (7 days)",
            ));
        }
        let until = now_ms() + overlap as i64 * 1000;
        let secret = generate_secret();
        if !self.store.rotate_webhook_secret(id, &secret, until).await? {
            return Err(not_found());
        }
        self.audit
            .admin_event(None, "webhook.secret_rotated", id, caller)
            .await?;
        Ok(RotatedWebhookSecret {
            secret,
            previous_expires_at: rfc3339(until),
        })
    }

    pub async fn deliveries(
        &self,
        id: &str,
        state: Option<&str>,
        before: Option<i64>,
        limit: Option<i64>,
    ) -> Result<Vec<WebhookDelivery>, VaultError> {
        let state = match state {
            Some(s) => Some(DeliveryState::parse(s).ok_or_else(|| {
                VaultError::invalid(
                    "`state` must be pending, delivering, delivered, dead or cancelled",
                )
            })?),
            None => None,
        };
        let limit = limit.unwrap_or(50);
        if !(1..=500).contains(&limit) {
            return Err(VaultError::invalid("`limit` must be between 1 and 500"));
        }
        if !self.store.webhook_endpoint_exists(id).await? {
            return Err(not_found());
        }
        Ok(self.store.list_deliveries(id, state, before, limit).await?)
    }

    pub async fn redeliver(
        &self,
        delivery_id: i64,
        caller: &Caller,
    ) -> Result<RedeliverResponse, VaultError> {
        let new = self
            .store
            .redeliver(delivery_id)
            .await?
            .ok_or_else(|| VaultError::not_found("no such webhook delivery"))?;
        self.audit
            .admin_event(
                None,
                "webhook.redelivered",
                &delivery_id.to_string(),
                caller,
            )
            .await?;
        Ok(RedeliverResponse { delivery_id: new })
    }
}

fn not_found() -> VaultError {
    VaultError::not_found("no such webhook endpoint")
}
