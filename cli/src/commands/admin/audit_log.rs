//! `nexus audit`: list audit records with filters.

use crate::args::AuditArgs;
use crate::error::CliResult;
use crate::http::ApiClient;
use crate::output::{print_json, print_table, rows};
use nexus_protocol::admin;

pub async fn audit(client: &ApiClient, args: AuditArgs, json: bool) -> CliResult<()> {
    let mut query = Vec::new();
    if let Some(ws) = args.workspace {
        query.push(("workspace_id", ws));
    }
    if let Some(since) = args.since {
        query.push(("since", since));
    }
    if let Some(until) = args.until {
        query.push(("until", until));
    }
    if let Some(limit) = args.limit {
        query.push(("limit", limit.to_string()));
    }
    if let Some(agent) = args.agent {
        query.push(("agent_id", agent));
    }
    if let Some(user) = args.user {
        query.push(("user", user));
    }
    let records = client.get(admin::AUDIT_PATH, &query).await?;
    if json {
        print_json(&records);
    } else {
        print_table(
            rows(&records, &["records", "audit"]),
            &[
                ("TIME", "at"),
                ("WORKSPACE", "workspace_id"),
                ("PRINCIPAL", "principal"),
                ("ACTION", "action"),
                ("TARGET", "target"),
                ("OUTCOME", "outcome"),
            ],
        );
    }
    Ok(())
}
