//! `nexus api-keys`: a workspace's API keys (the key itself is shown once, at creation).

use super::{encode_segment, workspace_path};
use crate::args::ApiKeysCommand;
use crate::error::CliResult;
use crate::http::{ApiClient, Body, parse_answer};
use crate::output::{outln, print_json, print_table, rows};
use nexus_protocol::admin::CreatedApiKey;
use reqwest::Method;
use serde_json::json;

pub async fn api_keys(client: &ApiClient, command: ApiKeysCommand, json: bool) -> CliResult<()> {
    match command {
        ApiKeysCommand::Create { workspace } => {
            let created = client
                .post(
                    &workspace_path(&workspace, "/api-keys")?,
                    &[],
                    Body::Json(json!({})),
                )
                .await?;
            if json {
                print_json(&created);
                return Ok(());
            }
            let created: CreatedApiKey = parse_answer(&created, "broker")?;
            // Only the key on stdout: `KEY=$(nexus api-keys create --workspace w)` must work.
            outln!("{}", created.api_key.expose());
            eprintln!(
                "created API key {} for workspace {workspace}; it is shown only this once",
                created.key_id
            );
        }
        ApiKeysCommand::List { workspace } => {
            let list = client
                .get(&workspace_path(&workspace, "/api-keys")?, &[])
                .await?;
            if json {
                print_json(&list);
            } else {
                print_table(
                    rows(&list, &["api_keys", "keys"]),
                    &[
                        ("KEY ID", "key_id"),
                        ("PREFIX", "prefix"),
                        ("CREATED", "created_at"),
                        ("REVOKED", "revoked_at"),
                    ],
                );
            }
        }
        ApiKeysCommand::Revoke { workspace, key_id } => {
            let path = workspace_path(
                &workspace,
                &format!("/api-keys/{}", encode_segment(&key_id)),
            )?;
            let answer = client.send(Method::DELETE, &path, &[], Body::None).await?;
            if json {
                print_json(&answer);
            } else {
                eprintln!("revoked API key {key_id}");
            }
        }
    }
    Ok(())
}
