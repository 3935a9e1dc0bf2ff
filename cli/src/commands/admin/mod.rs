//! The admin commands: each one is a call to the broker admin API (`/admin/v1/…`) and a way of
//! printing its answer. This file holds the checked ids and paths every admin command builds on,
//! and `workspaces`; each other resource has its file:
//!
//! - `providers.rs`: apply a providers file (drift report), list providers;
//! - `connections.rs`: list, import (secret from stdin) and revoke connections;
//! - `api_keys.rs`: workspace API keys; `master_keys.rs`: master key rotation;
//! - `audit_log.rs`: listing audit records (verification and checkpoints: `commands/audit.rs`).

mod api_keys;
mod audit_log;
mod connections;
mod master_keys;
mod providers;

pub use api_keys::api_keys;
pub use audit_log::audit;
pub use connections::connections;
pub use master_keys::keys;
pub use providers::providers;

use crate::args::WorkspacesCommand;
use crate::error::{CliError, CliResult};
use crate::http::{ApiClient, Body};
use crate::output::{outln, print_json, print_table, rows};
use nexus_protocol::admin::{self, CreateWorkspaceRequest};
use nexus_protocol::{ProviderName, WorkspaceId};

/// The workspace id given on the command line, checked by the protocol's rule.
pub fn workspace_id(workspace: &str) -> CliResult<WorkspaceId> {
    WorkspaceId::new(workspace).map_err(|e| {
        CliError::config(format!(
            "{e} (lowercase letters, digits, `_` and `-`; at most 63 characters, starting with a letter or digit)"
        ))
    })
}

/// `/admin/v1/workspaces/{ws}` with the id checked, so a typo cannot produce a different path.
pub(crate) fn workspace_path(workspace: &str, rest: &str) -> CliResult<String> {
    Ok(admin::workspace_path(&workspace_id(workspace)?, rest))
}

/// A provider name given on the command line, checked by the protocol's rule.
pub(crate) fn provider_name(provider: String) -> CliResult<ProviderName> {
    ProviderName::new(provider).map_err(|e| CliError::config(e.to_string()))
}

pub async fn workspaces(
    client: &ApiClient,
    command: WorkspacesCommand,
    json: bool,
) -> CliResult<()> {
    match command {
        WorkspacesCommand::Create { id, name } => {
            // The id is checked before anything is sent.
            let body = CreateWorkspaceRequest {
                id: workspace_id(&id)?,
                name,
            };
            let created = client
                .post(admin::WORKSPACES_PATH, &[], Body::json(&body)?)
                .await?;
            if json {
                print_json(&created);
            } else {
                outln!("{id}");
                eprintln!("created workspace {id}; next: `nexus api-keys create --workspace {id}`");
            }
        }
        WorkspacesCommand::List => {
            let list = client.get(admin::WORKSPACES_PATH, &[]).await?;
            if json {
                print_json(&list);
            } else {
                print_table(
                    rows(&list, &["workspaces"]),
                    &[("ID", "id"), ("NAME", "name"), ("CREATED", "created_at")],
                );
            }
        }
    }
    Ok(())
}

/// Percent-encode one path segment (ids come from the user).
pub(super) fn encode_segment(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_ids_follow_the_protocol_rule() {
        assert_eq!(
            workspace_path("a_b-9", "/api-keys").unwrap(),
            "/admin/v1/workspaces/a_b-9/api-keys"
        );
        for bad in ["", "Dev", "-x", "a/b", "../x", &"a".repeat(64)] {
            assert_eq!(
                workspace_path(bad, "").unwrap_err().exit_code(),
                2,
                "{bad:?}"
            );
        }
        let err = workspace_id("evil\n\u{1b}[2J").unwrap_err().to_string();
        assert!(!err.chars().any(char::is_control), "{err:?}");
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(encode_segment("a b/c"), "a%20b%2Fc");
        assert_eq!(encode_segment("key_1"), "key_1");
    }
}
