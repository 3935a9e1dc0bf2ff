//! `nexus connections`: list connections and import one (its secret read from stdin, never an
//! argument).

use super::{provider_name, workspace_path};
use crate::args::{ConnectionsCommand, ImportKind};
use crate::error::{CliError, CliResult};
use crate::http::{ApiClient, Body};
use crate::output::{print_json, print_table, rows};
use nexus_protocol::admin::{ImportRequest, ImportSecret};
use serde_json::Value;
use std::io::{IsTerminal, Read};

/// Largest secret accepted on stdin: far above any real token, small enough to refuse a file
/// piped by mistake.
const MAX_STDIN_SECRET_BYTES: u64 = 64 * 1024;

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
}
