//! Seeding (feature `testing`): load many workspaces and OAuth connections, sealed as in
//! production, for scale tests and benchmarks (`cargo run -p nexus-vault --example seed`).
//!
//! Connection `j` of `n` belongs to workspace `j % workspaces` and provider
//! `(j / workspaces) % providers`, so every workspace holds about `n / workspaces` connections
//! spread over the providers, each with a distinct user. Every connection is active, with an
//! access token valid for a year: a resolve of it reads, opens and audits, and never refreshes.

use crate::Vault;
use crate::caller::Caller;
use crate::error::VaultError;
use crate::providers::ProviderInput;
use crate::store::bulk::BulkConnection;
use crate::store::connections::TokenSet;
use crate::store::now_ms;
use nexus_protocol::SecretString;

/// Connections per transaction.
const BATCH: usize = 5_000;

/// What to load.
#[derive(Debug, Clone)]
pub struct SeedPlan {
    pub workspaces: usize,
    pub connections: usize,
    pub providers: usize,
    /// Token endpoint of the seeded providers (never called while tokens are valid).
    pub token_url: String,
}

/// Names the seed uses, so tools and tests can find what it loaded.
pub fn workspace_name(i: usize) -> String {
    format!("seed-{i:06}")
}

pub fn provider_name(i: usize) -> String {
    format!("seed-p{i}")
}

/// One loaded connection: its id and the indexes of its workspace and provider. Its access
/// token is `seed-access-<j>` for the `j`-th connection loaded.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub id: String,
    pub workspace: usize,
    pub provider: usize,
}

/// Load `plan` into the vault's database; returns every connection loaded, in order.
pub async fn seed(vault: &Vault, plan: &SeedPlan) -> Result<Vec<Seeded>, VaultError> {
    let caller = Caller {
        principal: "seed".into(),
        request_id: None,
    };
    let workspaces = plan.workspaces.max(1);
    let providers = plan.providers.max(1);
    for p in 0..providers {
        let input: ProviderInput = serde_json::from_value(serde_json::json!({
            "name": provider_name(p), "auth_type": "oauth2", "client_id": "seed-client",
            "client_secret": "seed-secret", "auth_url": format!("{}/authorize", plan.token_url),
            "token_url": plan.token_url, "scopes": ["read"]
        }))
        .map_err(|e| VaultError::invalid(e.to_string()))?;
        vault.admin().put_provider(input, &caller).await?;
    }
    let names: Vec<String> = (0..workspaces).map(workspace_name).collect();
    vault.store().insert_workspaces_bulk(&names).await?;

    let scopes = vec!["read".to_owned()];
    let expires_at = now_ms() + 365 * 24 * 3600 * 1000;
    let provider_names: Vec<String> = (0..providers).map(provider_name).collect();
    let placement = |j: usize| (j % workspaces, (j / workspaces) % providers);
    let mut seeded = Vec::with_capacity(plan.connections);
    let mut start = 0;
    while start < plan.connections {
        let end = (start + BATCH).min(plan.connections);
        let owned: Vec<(String, TokenSet)> = (start..end)
            .map(|j| {
                let tokens = TokenSet {
                    access_token: Some(SecretString::new(format!("seed-access-{j}"))),
                    refresh_token: Some(SecretString::new(format!("seed-refresh-{j}"))),
                    expires_at: Some(expires_at),
                    token_type: Some("Bearer".into()),
                    scopes: None,
                };
                (format!("user-{j}"), tokens)
            })
            .collect();
        let rows: Vec<BulkConnection<'_>> = (start..end)
            .zip(&owned)
            .map(|(j, (user, tokens))| {
                let (w, p) = placement(j);
                BulkConnection {
                    workspace_id: &names[w],
                    provider_name: &provider_names[p],
                    user_id: Some(user),
                    scopes: &scopes,
                    tokens,
                }
            })
            .collect();
        let ids = vault.store().insert_connections_bulk(&rows).await?;
        seeded.extend(ids.into_iter().zip(start..end).map(|(id, j)| {
            let (workspace, provider) = placement(j);
            Seeded {
                id,
                workspace,
                provider,
            }
        }));
        start = end;
    }
    Ok(seeded)
}
