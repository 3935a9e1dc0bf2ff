//! The admin commands: each one is a call to the broker admin API (`/admin/v1/…`) and a way of
//! printing its answer.

use crate::args::{
    ApiKeysCommand, AuditArgs, ConnectionsCommand, ImportKind, KeysCommand, ProvidersCommand,
    WorkspacesCommand,
};
use crate::error::{CliError, CliResult};
use crate::http::{ApiClient, Body, parse_answer};
use crate::output::{outln, print_json, print_table, rows};
use nexus_broker::providers::file::expand_document;
use nexus_protocol::admin::{
    self, CreateWorkspaceRequest, CreatedApiKey, DriftReport, ImportRequest, ImportSecret,
    RotateKeysRequest, RotateResponse,
};
use nexus_protocol::{ProviderName, WorkspaceId};
use reqwest::Method;
use serde_json::{Value, json};
use std::io::{IsTerminal, Read};
use std::path::Path;

/// Largest secret accepted on stdin: far above any real token, small enough to refuse a file
/// piped by mistake.
const MAX_STDIN_SECRET_BYTES: u64 = 64 * 1024;

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

pub async fn providers(client: &ApiClient, command: ProvidersCommand, json: bool) -> CliResult<()> {
    match command {
        ProvidersCommand::Apply {
            file,
            dry_run,
            prune,
        } => {
            let body = read_providers_file(&file)?;
            let query = [
                ("dry_run", dry_run.to_string()),
                ("prune", prune.to_string()),
            ];
            let report = client
                .post(admin::PROVIDERS_APPLY_PATH, &query, body)
                .await?;
            if json {
                print_json(&report);
            } else {
                print_drift_report(&parse_answer(&report, "broker")?);
            }
        }
        ProvidersCommand::List => {
            let list = client.get(admin::PROVIDERS_PATH, &[]).await?;
            if json {
                print_json(&list);
            } else {
                let providers: Vec<Value> = rows(&list, &["providers"])
                    .iter()
                    .map(provider_summary)
                    .collect();
                print_table(
                    &providers,
                    &[
                        ("NAME", "name"),
                        ("KIND", "kind"),
                        ("STRATEGY", "strategy"),
                        ("CLIENT SECRET", "client_secret"),
                        ("API BASE URL", "api_base_url"),
                    ],
                );
            }
        }
    }
    Ok(())
}

/// The YAML or JSON providers file as a request body, with `${NAME}` and `${NAME:-default}`
/// expanded from this process's environment (the broker never expands what it is sent). An unset
/// variable stops the command before anything is sent; the message names it, never a value.
fn read_providers_file(file: &Path) -> CliResult<Body> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| CliError::config(format!("cannot read {}: {e}", file.display())))?;
    let expanded = expand_document(&text, &|name| std::env::var(name).ok())
        .map_err(|e| CliError::config(format!("{}: {e}", file.display())))?;
    Ok(Body::Text {
        content_type: "application/json",
        text: expanded,
    })
}

fn print_drift_report(report: &DriftReport) {
    let verb = |done: &'static str, would: &'static str| if report.dry_run { would } else { done };
    for (names, label) in [
        (&report.created, verb("created", "would create")),
        (&report.updated, verb("updated", "would update")),
        (&report.pruned, verb("pruned", "would prune")),
        (&report.unchanged, "unchanged"),
    ] {
        for name in names {
            outln!("{label:<14} {name}");
        }
    }
    eprintln!(
        "{}{} created, {} updated, {} pruned, {} unchanged",
        if report.dry_run { "dry run: " } else { "" },
        report.created.len(),
        report.updated.len(),
        report.pruned.len(),
        report.unchanged.len()
    );
}

/// One provider as a table row. The broker never sends a client secret, only whether one is set.
fn provider_summary(p: &Value) -> Value {
    let strategy = p
        .get("strategy")
        .and_then(|s| s.get("type").or(Some(s)))
        .and_then(Value::as_str)
        .unwrap_or("-");
    let kind = ["kind", "auth_mode", "auth_type", "type"]
        .iter()
        .find_map(|k| p.get(*k).and_then(Value::as_str))
        .unwrap_or("-");
    let secret = match p.get("has_client_secret").and_then(Value::as_bool) {
        Some(true) => "set",
        Some(false) => "none",
        None => "-",
    };
    json!({
        "name": p.get("name"),
        "kind": kind,
        "strategy": strategy,
        "client_secret": secret,
        "api_base_url": p.get("api_base_url"),
    })
}

pub async fn connections(
    client: &ApiClient,
    command: ConnectionsCommand,
    json: bool,
) -> CliResult<()> {
    match command {
        ConnectionsCommand::List { workspace } => {
            let list = client
                .get(&workspace_path(&workspace, "/connections")?, &[])
                .await?;
            if json {
                print_json(&list);
            } else {
                print_connections(rows(&list, &["connections"]));
            }
        }
        ConnectionsCommand::Import {
            workspace,
            provider,
            kind,
            user_id,
            scopes,
        } => {
            let path = workspace_path(&workspace, "/connections/import")?;
            let provider_name = provider_name(provider)?;
            let body = ImportRequest {
                provider_name,
                kind: kind.wire(),
                secret: ImportSecret(read_secret_from_stdin(kind)?),
                user_id,
                scopes,
                bound_to_mcp_user: false,
            };
            let connection = client.post(&path, &[], Body::json(&body)?).await?;
            if json {
                print_json(&connection);
            } else {
                print_connections(std::slice::from_ref(&connection));
            }
        }
    }
    Ok(())
}

fn print_connections(list: &[Value]) {
    print_table(
        list,
        &[
            ("ID", "id"),
            ("PROVIDER", "provider_name"),
            ("STATUS", "status"),
            ("USER", "user_id"),
            ("SCOPES", "scopes"),
            ("UPDATED", "updated_at"),
        ],
    );
}

/// The secret for `connections import`, from stdin: the text itself (trailing newline removed)
/// for an API key or refresh token, a JSON object for `credentials`. Error messages describe
/// the input, never quote it.
fn read_secret_from_stdin(kind: ImportKind) -> CliResult<Value> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!(
            "reading the {} from stdin (end with Ctrl-D)…",
            kind.wire_name()
        );
    }
    let mut raw = String::new();
    stdin
        .lock()
        .take(MAX_STDIN_SECRET_BYTES + 1)
        .read_to_string(&mut raw)
        .map_err(|e| CliError::config(format!("cannot read the secret from stdin: {e}")))?;
    parse_secret(kind, &raw)
}

fn parse_secret(kind: ImportKind, raw: &str) -> CliResult<Value> {
    if raw.len() as u64 > MAX_STDIN_SECRET_BYTES {
        return Err(CliError::config(format!(
            "stdin holds more than {MAX_STDIN_SECRET_BYTES} bytes; pipe only the secret"
        )));
    }
    let text = raw.trim();
    if text.is_empty() {
        return Err(CliError::config(format!(
            "no {} on stdin; pipe it in, e.g. `echo -n \"$KEY\" | nexus connections import …`",
            kind.wire_name()
        )));
    }
    match kind {
        ImportKind::ApiKey | ImportKind::RefreshToken => {
            // The vault's rule (protocol): no control character anywhere in a stored value.
            if !nexus_protocol::is_storable_credential(text) {
                return Err(CliError::config(format!(
                    "the {} on stdin spans several lines or holds a control character; pipe a single printable value",
                    kind.wire_name()
                )));
            }
            Ok(Value::String(text.to_owned()))
        }
        ImportKind::Credentials => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(fields))
                if fields.values().any(|v| {
                    v.as_str()
                        .is_some_and(|t| !nexus_protocol::is_storable_credential(t))
                }) =>
            {
                Err(CliError::config(
                    "a credential field on stdin holds a control character (CR, LF, NUL, …); credentials must be single-line printable text",
                ))
            }
            Ok(Value::Object(fields)) if !fields.is_empty() => Ok(Value::Object(fields)),
            Ok(_) => Err(CliError::config(
                "stdin must hold a non-empty JSON object of credential fields, e.g. {\"username\": \"…\", \"password\": \"…\"}",
            )),
            // serde's message can quote the input; report only where it broke.
            Err(e) => Err(CliError::config(format!(
                "stdin is not valid JSON (line {}, column {}); expected an object of credential fields",
                e.line(),
                e.column()
            ))),
        },
    }
}

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

pub async fn keys(client: &ApiClient, command: KeysCommand, json: bool) -> CliResult<()> {
    match command {
        KeysCommand::Rotate => {
            let result = client
                .post(
                    admin::KEYS_ROTATE_PATH,
                    &[],
                    Body::json(&RotateKeysRequest::default())?,
                )
                .await?;
            if json {
                print_json(&result);
            } else {
                let rotated: RotateResponse = parse_answer(&result, "broker")?;
                outln!(
                    "active key {}; {} secrets re-encrypted",
                    rotated.active_key_id,
                    rotated.reencrypted
                );
            }
        }
    }
    Ok(())
}

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
    fn stdin_secrets_are_trimmed_and_checked() {
        assert_eq!(
            parse_secret(ImportKind::ApiKey, "sk_123\n").unwrap(),
            json!("sk_123")
        );
        assert_eq!(
            parse_secret(ImportKind::ApiKey, "  \n")
                .unwrap_err()
                .exit_code(),
            2
        );
        assert!(parse_secret(ImportKind::RefreshToken, "a\nb").is_err());
        assert!(parse_secret(ImportKind::ApiKey, "a\u{0}b").is_err());
        assert!(parse_secret(ImportKind::Credentials, r#"{"password":"p\r\nX: y"}"#).is_err());
        let fields = parse_secret(
            ImportKind::Credentials,
            r#"{"username":"u","password":"p"}"#,
        )
        .unwrap();
        assert_eq!(fields["username"], "u");
    }

    #[test]
    fn bad_credential_json_is_reported_without_its_content() {
        let err =
            parse_secret(ImportKind::Credentials, r#"{"password": "hunter2-secret"#).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let err = parse_secret(ImportKind::Credentials, r#""hunter2-secret""#).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(parse_secret(ImportKind::Credentials, "{}").is_err());
    }

    #[test]
    fn oversized_stdin_is_refused() {
        let big = "x".repeat(MAX_STDIN_SECRET_BYTES as usize + 1);
        assert_eq!(
            parse_secret(ImportKind::ApiKey, &big)
                .unwrap_err()
                .exit_code(),
            2
        );
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(encode_segment("a b/c"), "a%20b%2Fc");
        assert_eq!(encode_segment("key_1"), "key_1");
    }
}
