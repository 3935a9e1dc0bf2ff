//! What the original Nexus SDKs (Python `nexus_sdk`, TypeScript `nexus-sdk-ts`, Go `nexus-sdk`
//! of Prescott-Data/nexus-framework) do with the gateway's answers, restated in Rust from
//! reading their code: which header they inject with which value, what they read from a token
//! answer and an error, and when their `wait_for_active` stops. Each function says which
//! client it models and keeps that client's quirks (e.g. the `"Bearer "` assumed when
//! `value_prefix` is missing), because those quirks are what a compatible gateway must satisfy.

#![allow(dead_code)]

use serde_json::{Map, Value};

/// The header an original client injects into an upstream request: `(name, value)`.
pub type Injection = (String, String);

/// The three original clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Original {
    Python,
    TypeScript,
    Go,
}

pub const ALL: [Original; 3] = [Original::Python, Original::TypeScript, Original::Go];

/// A JSON value as JavaScript/Python truthiness sees it (what `x or y` / `x || y` keep).
fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Number(n)) => n.as_f64() != Some(0.0),
        Some(Value::Array(_)) => true,
        Some(Value::Object(o)) => !o.is_empty(),
    }
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Original {
    /// The header the client injects for a `GET /v1/resolve` answer, or the error it raises.
    pub fn injection(self, answer: &Value) -> Result<Injection, String> {
        match self {
            Original::Python => python_injection(answer),
            Original::TypeScript => typescript_injection(answer),
            Original::Go => go_injection(answer),
        }
    }
}

/// Python `resolve_token` + `authenticated_fetch`: credentials must be a non-empty object; a
/// `header` strategy with a non-empty config names the header, and `value_prefix` is used when
/// present (not null), else `"Bearer "`; other strategies use `credentials.token_type`. The
/// token is `credentials.access_token`, else the top-level `access_token`, else
/// `credentials[config.credential_field]`.
fn python_injection(answer: &Value) -> Result<Injection, String> {
    let credentials = answer["credentials"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    if credentials.is_empty() {
        return Err("Missing credentials in gateway response".into());
    }
    let config = answer["strategy"]["config"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let (mut header, mut prefix) = ("Authorization".to_owned(), "Bearer ".to_owned());
    if answer["strategy"]["type"] == "header" && !config.is_empty() {
        if truthy(config.get("header_name")) {
            header = as_text(&config["header_name"]);
        }
        if let Some(vp) = config.get("value_prefix").filter(|v| !v.is_null()) {
            prefix = as_text(vp);
        }
    } else if truthy(credentials.get("token_type")) {
        prefix = token_type_prefix(&as_text(&credentials["token_type"]));
    }
    let token = [credentials.get("access_token"), answer.get("access_token")]
        .into_iter()
        .find(|v| truthy(*v))
        .flatten()
        .cloned()
        .or_else(|| field_named_by_config(&credentials, &config));
    let token = token.ok_or("Could not locate access token in response")?;
    Ok((header, format!("{prefix}{}", as_text(&token))))
}

/// TypeScript `resolveToken` + `createFetcher`: like Python, except that `credentials` only has
/// to be present, `value_prefix` counts when it is not `undefined` (a `null` would become the
/// text "null"), and the token is never read from the top level.
fn typescript_injection(answer: &Value) -> Result<Injection, String> {
    let Some(credentials) = answer.get("credentials").and_then(Value::as_object) else {
        return Err("Invalid response format from Nexus Gateway: missing credentials".into());
    };
    let config = answer["strategy"]["config"].as_object().cloned();
    let (mut header, mut prefix) = ("Authorization".to_owned(), "Bearer ".to_owned());
    if let (true, Some(config)) = (answer["strategy"]["type"] == "header", &config) {
        if truthy(config.get("header_name")) {
            header = as_text(&config["header_name"]);
        }
        if let Some(vp) = config.get("value_prefix") {
            prefix = if vp.is_null() {
                "null".into()
            } else {
                as_text(vp)
            };
        }
    } else if truthy(credentials.get("token_type")) {
        prefix = token_type_prefix(&as_text(&credentials["token_type"]));
    }
    let token = credentials
        .get("access_token")
        .filter(|v| truthy(Some(v)))
        .cloned()
        .or_else(|| field_named_by_config(credentials, &config.unwrap_or_default()));
    let token = token.ok_or("Could not locate access token in Nexus Gateway response")?;
    Ok((header, format!("{prefix}{}", as_text(&token))))
}

/// Go `ResolveToken` + `GetCachedToken` + `AuthenticatedTransport`: the token is the string
/// `credentials.access_token`, else the top-level `access_token` (never `credential_field`);
/// a `header` strategy takes `header_name` when a non-empty string and `value_prefix` when a
/// string; other strategies use the token type (`credentials`, then top level, then Bearer).
fn go_injection(answer: &Value) -> Result<Injection, String> {
    let credentials = answer["credentials"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    fn text(v: Option<&Value>) -> Option<&str> {
        v.and_then(Value::as_str).filter(|s| !s.is_empty())
    }
    let token = text(credentials.get("access_token"))
        .or_else(|| text(answer.get("access_token")))
        .ok_or("resolve: no access_token found in gateway response")?;
    let token_type = text(credentials.get("token_type"))
        .or_else(|| text(answer.get("token_type")))
        .unwrap_or("Bearer");
    let (mut header, mut prefix) = ("Authorization".to_owned(), "Bearer ".to_owned());
    if answer["strategy"]["type"] == "header" {
        if let Some(config) = answer["strategy"]["config"].as_object() {
            if let Some(name) = text(config.get("header_name")) {
                header = name.to_owned();
            }
            if let Some(vp) = config.get("value_prefix").and_then(Value::as_str) {
                prefix = vp.to_owned();
            }
        }
    } else if !token_type.eq_ignore_ascii_case("bearer") {
        prefix = format!("{token_type} ");
    }
    Ok((header, format!("{prefix}{token}")))
}

/// The first releases of the Python and TypeScript clients (the code their v0.2.3 changelogs
/// describe, before `header_name` was read): always `Authorization`, with the token type taken
/// from a `header` strategy's `value_prefix` (trimmed) when non-empty, else
/// `credentials.token_type`, else `Bearer` (any case of `bearer` written `Bearer`). The token as
/// in the later code, except that only Python also reads the top-level `access_token`.
pub fn first_release_injection(client: Original, answer: &Value) -> Result<Injection, String> {
    let credentials = answer["credentials"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    // Python wants a non-empty object, TypeScript any object.
    let missing = match client {
        Original::Python => credentials.is_empty(),
        _ => !answer["credentials"].is_object(),
    };
    if missing {
        return Err("missing credentials".into());
    }
    let config = answer["strategy"]["config"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let token_type = if answer["strategy"]["type"] == "header" && truthy(config.get("value_prefix"))
    {
        as_text(&config["value_prefix"]).trim().to_owned()
    } else if truthy(credentials.get("token_type")) {
        as_text(&credentials["token_type"])
    } else {
        "Bearer".to_owned()
    };
    let top_level = (client == Original::Python).then(|| answer.get("access_token"));
    let token = [credentials.get("access_token"), top_level.flatten()]
        .into_iter()
        .find(|v| truthy(*v))
        .flatten()
        .cloned()
        .or_else(|| field_named_by_config(&credentials, &config))
        .ok_or("Could not locate access token")?;
    Ok((
        "Authorization".into(),
        format!("{}{}", token_type_prefix(&token_type), as_text(&token)),
    ))
}

fn token_type_prefix(token_type: &str) -> String {
    if token_type.eq_ignore_ascii_case("bearer") {
        "Bearer ".into()
    } else {
        format!("{token_type} ")
    }
}

fn field_named_by_config(
    credentials: &Map<String, Value>,
    config: &Map<String, Value>,
) -> Option<Value> {
    let field = config.get("credential_field").filter(|v| truthy(Some(v)))?;
    credentials
        .get(&as_text(field))
        .filter(|v| truthy(Some(v)))
        .cloned()
}

/// All three clients' `wait_for_active` / `waitForActive` / `WaitForActive`: only `active` and
/// `failed` end the wait; anything else is polled again until the caller's timeout.
pub fn wait_for_active_stops_at(status: &str) -> bool {
    status == "active" || status == "failed"
}

/// Go `readGatewayError`: a typed `ErrorEnvelope` only when the body has a non-empty `code`.
pub fn go_error_code(body: &Value) -> Option<String> {
    body["code"]
        .as_str()
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
}

/// Python and TypeScript: the code is `error` (else `http_<status>`).
pub fn python_typescript_error_code(status: u16, body: &Value) -> String {
    body["error"]
        .as_str()
        .map_or_else(|| format!("http_{status}"), str::to_owned)
}
