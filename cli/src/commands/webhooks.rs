//! `nexus webhooks …`: signed webhooks about connections (add, list, remove, rotate-secret,
//! deliveries, redeliver). A signing secret is printed once, alone on stdout, so
//! `SECRET=$(nexus webhooks add …)` works; everything else about it goes to stderr.

use crate::error::{CliError, CliResult};
use crate::http::{ApiClient, Body, parse_answer};
use crate::output::{outln, print_json, print_table, rows};
use clap::Subcommand;
use nexus_protocol::webhooks::{
    self, CreateWebhookRequest, CreatedWebhook, RedeliverResponse, RotateWebhookSecretRequest,
    RotatedWebhookSecret,
};
use reqwest::Method;

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Add an endpoint; prints its signing secret (shown only this once).
    Add {
        /// `https://…` (loopback `http://` only when the broker allows it for development).
        #[arg(long)]
        url: String,
        /// Only this workspace's events (default: every workspace).
        #[arg(long, value_name = "W")]
        workspace: Option<String>,
        /// Event types, comma-separated (default: all), e.g.
        /// `connection.refresh_failed,connection.recovered`.
        #[arg(long, value_delimiter = ',')]
        events: Vec<String>,
        /// A note for people.
        #[arg(long)]
        description: Option<String>,
    },
    /// List the endpoints (secrets are never shown).
    List,
    /// Remove an endpoint (its pending deliveries go with it).
    Remove { id: String },
    /// Give an endpoint a new secret; the old one keeps signing during the overlap.
    RotateSecret {
        id: String,
        /// How long the previous secret still signs, like `24h` or `30m` (at most 168h).
        #[arg(long, default_value = "24h")]
        overlap: String,
    },
    /// List an endpoint's deliveries, newest first.
    Deliveries {
        id: String,
        /// pending, delivering, delivered, dead or cancelled.
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Deliveries older than this delivery id (the last id of the previous page).
        #[arg(long)]
        cursor: Option<i64>,
    },
    /// Send a delivery's event again (at the end of its connection's queue).
    Redeliver { delivery_id: i64 },
}

/// Endpoint ids are `we_…`: checked so a typo cannot produce another path.
fn endpoint_id(id: &str) -> CliResult<&str> {
    if !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        Ok(id)
    } else {
        Err(CliError::config(
            "a webhook id is letters, digits, `_` and `-` (as `nexus webhooks list` shows)",
        ))
    }
}

pub async fn webhooks(client: &ApiClient, command: WebhooksCommand, json: bool) -> CliResult<()> {
    match command {
        WebhooksCommand::Add {
            url,
            workspace,
            events,
            description,
        } => {
            let body = CreateWebhookRequest {
                url,
                workspace_id: workspace,
                events,
                description,
            };
            let answer = client
                .post(webhooks::WEBHOOKS_PATH, &[], Body::json(&body)?)
                .await?;
            let created: CreatedWebhook = parse_answer(&answer, "broker")?;
            if json {
                print_json(
                    &serde_json::json!({"id": created.id, "secret": created.secret.expose()}),
                );
            } else {
                outln!("{}", created.secret.expose());
                eprintln!(
                    "added webhook {} → {}; the secret above is shown only this once",
                    created.id, created.url
                );
            }
        }
        WebhooksCommand::List => {
            let list = client.get(webhooks::WEBHOOKS_PATH, &[]).await?;
            if json {
                print_json(&list);
            } else {
                print_table(
                    rows(&list, &["webhooks"]),
                    &[
                        ("ID", "id"),
                        ("URL", "url"),
                        ("WORKSPACE", "workspace_id"),
                        ("EVENTS", "events"),
                        ("DISABLED", "disabled_reason"),
                    ],
                );
            }
        }
        WebhooksCommand::Remove { id } => {
            let path = webhooks::webhook_path(endpoint_id(&id)?, "");
            client.send(Method::DELETE, &path, &[], Body::None).await?;
            eprintln!("removed webhook {id}");
        }
        WebhooksCommand::RotateSecret { id, overlap } => {
            let overlap = nexus_broker::webhooks::parse_duration(&overlap).ok_or_else(|| {
                CliError::config("--overlap is a duration like 30m or 24h (at most 168h)")
            })?;
            let body = RotateWebhookSecretRequest {
                overlap_seconds: Some(overlap.as_secs()),
            };
            let path = webhooks::webhook_path(endpoint_id(&id)?, "/rotate-secret");
            let answer = client.post(&path, &[], Body::json(&body)?).await?;
            let rotated: RotatedWebhookSecret = parse_answer(&answer, "broker")?;
            if json {
                print_json(&serde_json::json!({
                    "secret": rotated.secret.expose(),
                    "previous_expires_at": rotated.previous_expires_at,
                }));
            } else {
                outln!("{}", rotated.secret.expose());
                eprintln!(
                    "new secret for {id} (shown only this once); the previous one signs too until {}",
                    rotated.previous_expires_at
                );
            }
        }
        WebhooksCommand::Deliveries {
            id,
            state,
            limit,
            cursor,
        } => {
            let mut query = vec![("limit", limit.to_string())];
            query.extend(state.map(|s| ("state", s)));
            query.extend(cursor.map(|c| ("cursor", c.to_string())));
            let path = webhooks::webhook_path(endpoint_id(&id)?, "/deliveries");
            let list = client.get(&path, &query).await?;
            if json {
                print_json(&list);
            } else {
                print_table(
                    rows(&list, &["deliveries"]),
                    &[
                        ("ID", "id"),
                        ("EVENT", "event_type"),
                        ("CONNECTION", "connection_id"),
                        ("STATE", "state"),
                        ("ATTEMPTS", "attempts"),
                        ("LAST STATUS", "last_status"),
                        ("NEXT ATTEMPT", "next_attempt_at"),
                    ],
                );
            }
        }
        WebhooksCommand::Redeliver { delivery_id } => {
            let answer = client
                .post(&webhooks::redeliver_path(delivery_id), &[], Body::None)
                .await?;
            let queued: RedeliverResponse = parse_answer(&answer, "broker")?;
            if json {
                print_json(&answer);
            } else {
                outln!("{}", queued.delivery_id);
                eprintln!(
                    "queued delivery {} (a copy of {delivery_id})",
                    queued.delivery_id
                );
            }
        }
    }
    Ok(())
}
