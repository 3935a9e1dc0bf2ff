//! What a protected MCP server says to a client it refuses, and where it says it.
//!
//! - The RFC 9728 protected-resource metadata document and its well-known URL (the well-known
//!   segment goes between the host and the resource's path: `https://h/.well-known/oauth-protected-resource/mcp`).
//! - The `WWW-Authenticate: Bearer …` challenges of the MCP authorization specification:
//!   401 with `resource_metadata` and the `scope` to ask for (plus `error="invalid_token"` when a
//!   token was presented, RFC 6750 §3.1), and 403 `error="insufficient_scope"` naming every
//!   scope the operation needs (the client's step-up asks for them).

use serde_json::{Value, json};

/// The well-known prefix of RFC 9728 metadata.
pub const METADATA_WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// The path (`/.well-known/oauth-protected-resource{path}`) and full URL of the metadata of
/// `resource` (a URL in Rule R normal form).
pub(crate) fn metadata_location(resource: &url::Url) -> (String, String) {
    let path = match resource.path() {
        "/" => String::new(),
        p => p.trim_end_matches('/').to_owned(),
    };
    let path = format!("{METADATA_WELL_KNOWN}{path}");
    let origin = resource.origin().ascii_serialization();
    let url = format!("{origin}{path}");
    (path, url)
}

/// The RFC 9728 document. `offline_access` is never listed (the specification says resource
/// servers should not: it is the authorization server's business).
pub(crate) fn metadata_document(
    resource: &str,
    issuer: &str,
    scopes_supported: &[String],
    resource_name: Option<&str>,
) -> Value {
    let scopes: Vec<&str> = scopes_supported
        .iter()
        .map(String::as_str)
        .filter(|s| *s != "offline_access")
        .collect();
    let mut doc = json!({
        "resource": resource,
        "authorization_servers": [issuer],
        "scopes_supported": scopes,
        "bearer_methods_supported": ["header"],
    });
    if let Some(name) = resource_name {
        doc["resource_name"] = json!(name);
    }
    doc
}

/// A refusal, ready to send: status, `WWW-Authenticate` value and a JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub status: u16,
    pub www_authenticate: String,
    /// `{"error": …, "error_description": …}` (RFC 6750 error codes).
    pub body: String,
    /// The RFC 6750 error code (`invalid_token`, `insufficient_scope`, …), or `None` when no
    /// token was presented (the challenge then carries no `error`, RFC 6750 §3.1).
    pub error: Option<&'static str>,
}

/// An auth-param value as a quoted-string (RFC 9110 §5.6.4): `"` and `\` escaped. The values
/// here are URLs, scope tokens and fixed texts, so this never changes them in practice.
fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn bearer(params: &[(&str, &str)]) -> String {
    let parts: Vec<String> = params
        .iter()
        .map(|(name, value)| format!("{name}={}", quoted(value)))
        .collect();
    format!("Bearer {}", parts.join(", "))
}

fn body(error: &str, description: &str) -> String {
    json!({ "error": error, "error_description": description }).to_string()
}

/// 401 without a usable token. `presented`: a token was sent (then `error="invalid_token"` and
/// the fixed `description`); `scopes`: what to ask for (omitted when empty).
pub(crate) fn unauthorized(
    metadata_url: &str,
    scopes: &[String],
    presented: Option<&'static str>,
) -> Challenge {
    let scope = scopes.join(" ");
    let mut params = Vec::with_capacity(4);
    if let Some(description) = presented {
        params.push(("error", "invalid_token"));
        params.push(("error_description", description));
    }
    params.push(("resource_metadata", metadata_url));
    if !scope.is_empty() {
        params.push(("scope", scope.as_str()));
    }
    let (error, description) = match presented {
        Some(d) => (Some("invalid_token"), d),
        None => (None, "an access token is required"),
    };
    Challenge {
        status: 401,
        www_authenticate: bearer(&params),
        body: body(error.unwrap_or("invalid_request"), description),
        error,
    }
}

/// 403 `insufficient_scope`: `needed` is every scope the operation requires.
pub(crate) fn insufficient_scope(metadata_url: &str, needed: &[String]) -> Challenge {
    const DESCRIPTION: &str = "the access token lacks a scope this operation requires";
    let scope = needed.join(" ");
    Challenge {
        status: 403,
        www_authenticate: bearer(&[
            ("error", "insufficient_scope"),
            ("scope", &scope),
            ("resource_metadata", metadata_url),
            ("error_description", DESCRIPTION),
        ]),
        body: body("insufficient_scope", DESCRIPTION),
        error: Some("insufficient_scope"),
    }
}

/// 503: the authorization server's keys cannot be had (no token can be checked). No
/// `WWW-Authenticate`: re-authorising would not help.
pub(crate) fn keys_unavailable() -> Challenge {
    const DESCRIPTION: &str = "the authorization server's signing keys are unavailable";
    Challenge {
        status: 503,
        www_authenticate: String::new(),
        body: body("temporarily_unavailable", DESCRIPTION),
        error: Some("temporarily_unavailable"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_url_puts_the_well_known_segment_before_the_path() {
        let at = |s: &str| metadata_location(&url::Url::parse(s).unwrap());
        assert_eq!(
            at("https://mcp.example.com/mcp").1,
            "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            at("http://127.0.0.1:8080").0,
            "/.well-known/oauth-protected-resource"
        );
    }

    #[test]
    fn challenges_carry_the_parameters_the_specification_names() {
        let prm = "https://h/.well-known/oauth-protected-resource/mcp";
        let none = unauthorized(prm, &["a".into(), "b".into()], None);
        assert_eq!(none.status, 401);
        assert_eq!(
            none.www_authenticate,
            format!(r#"Bearer resource_metadata="{prm}", scope="a b""#)
        );
        let bad = unauthorized(prm, &[], Some("the access token has expired"));
        assert!(
            bad.www_authenticate
                .starts_with(r#"Bearer error="invalid_token", "#)
        );
        assert!(!bad.www_authenticate.contains("scope="));
        let step_up = insufficient_scope(prm, &["a".into(), "c".into()]);
        assert_eq!(step_up.status, 403);
        assert!(step_up.www_authenticate.contains(r#"scope="a c""#));
        assert!(
            step_up
                .www_authenticate
                .contains(r#"error="insufficient_scope""#)
        );
        let body: Value = serde_json::from_str(&step_up.body).unwrap();
        assert_eq!(body["error"], "insufficient_scope");
    }

    #[test]
    fn metadata_never_lists_offline_access() {
        let doc = metadata_document(
            "https://h/mcp",
            "https://as",
            &["offline_access".into(), "x".into()],
            Some("Notes"),
        );
        assert_eq!(doc["scopes_supported"], json!(["x"]));
        assert_eq!(doc["authorization_servers"], json!(["https://as"]));
        assert_eq!(doc["resource_name"], "Notes");
        assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
    }

    #[test]
    fn quoted_strings_escape_quotes_and_backslashes() {
        assert_eq!(quoted(r#"a"b\c"#), r#""a\"b\\c""#);
    }
}
