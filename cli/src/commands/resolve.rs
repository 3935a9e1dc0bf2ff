//! `nexus resolve`: call the gateway's `GET /v1/resolve` with a workspace API key, like an SDK
//! does, and show what came back with every secret masked.

use crate::args::ResolveArgs;
use crate::error::{CliError, CliResult};
use crate::http::ApiClient;
use crate::output::{mask, outln, print_json};
use nexus_protocol::{ResolveResponse, Strategy};
use serde_json::{Value, json};

pub async fn resolve(client: &ApiClient, args: ResolveArgs, json: bool) -> CliResult<()> {
    let mut query = vec![
        ("workspace_id", args.workspace),
        ("provider_name", args.provider),
    ];
    if let Some(min_ttl) = args.min_ttl {
        query.push(("min_ttl", min_ttl.to_string()));
    }
    if args.force_refresh {
        query.push(("force_refresh", "true".into()));
    }
    let body = client.get("/v1/resolve", &query).await?;
    let response: ResolveResponse = serde_json::from_value(body).map_err(|e| {
        CliError::runtime(format!(
            "the gateway's answer is not a resolve response: {e}"
        ))
    })?;
    let summary = masked_summary(&response);
    if json {
        print_json(&summary);
    } else {
        print_summary(&summary);
    }
    Ok(())
}

/// The response with the access token and every credential value masked: safe to print,
/// log or paste into an issue.
fn masked_summary(r: &ResolveResponse) -> Value {
    let credentials: serde_json::Map<String, Value> = r
        .credentials
        .field_names()
        .map(|name| {
            let shown = r
                .credentials
                .get_str(name)
                .map(|v| mask(&v))
                .unwrap_or_else(|| "…".into());
            (name.to_owned(), Value::String(shown))
        })
        .collect();
    // The typed strategy shows the defaults the SDK will apply, not just what was sent.
    let strategy_check = match Strategy::from_spec(&r.strategy) {
        Ok(s) => json!({"valid": true, "kind": s.kind()}),
        Err(e) => json!({"valid": false, "error": e.to_string()}),
    };
    json!({
        "strategy": r.strategy,
        "strategy_check": strategy_check,
        "token_type": r.token_type,
        "access_token": r.access_token.as_ref().map(|t| mask(t.expose())),
        "expires_at": r.expires_at,
        "expires_in": r.expires_in,
        "scopes": r.scopes,
        "api_base_url": r.api_base_url,
        "connection_id": r.connection_id,
        "credentials": credentials,
    })
}

fn print_summary(s: &Value) {
    let text = |key: &str| match s.get(key) {
        None | Some(Value::Null) => "-".to_owned(),
        Some(Value::String(v)) => v.clone(),
        Some(v) => v.to_string(),
    };
    let strategy_config = s["strategy"]
        .get("config")
        .map(Value::to_string)
        .unwrap_or_default();
    outln!(
        "strategy:     {} {}",
        s["strategy"]["type"].as_str().unwrap_or("-"),
        strategy_config
    );
    if s["strategy_check"]["valid"] == Value::Bool(false) {
        outln!(
            "              (invalid: {})",
            text_of(&s["strategy_check"]["error"])
        );
    }
    outln!("access token: {}", text("access_token"));
    let expiry = match (
        s.get("expires_at").and_then(Value::as_str),
        s.get("expires_in"),
    ) {
        (Some(at), Some(Value::Number(n))) => format!("{at} (in {n} s)"),
        (Some(at), _) => at.to_owned(),
        (None, Some(Value::Number(n))) => format!("in {n} s"),
        _ => "never".to_owned(),
    };
    outln!("expires:      {expiry}");
    outln!("scopes:       {}", scopes_text(&s["scopes"]));
    outln!("api base url: {}", text("api_base_url"));
    outln!("connection:   {}", text("connection_id"));
    if let Some(fields) = s["credentials"].as_object() {
        for (name, value) in fields {
            outln!("credential:   {name} = {}", text_of(value));
        }
    }
}

fn text_of(v: &Value) -> String {
    v.as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| v.to_string())
}

fn scopes_text(v: &Value) -> String {
    let scopes: Vec<&str> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if scopes.is_empty() {
        "-".into()
    } else {
        scopes.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_masks_every_secret() {
        let response: ResolveResponse = serde_json::from_value(json!({
            "access_token": "tok_abcdefghijklmnopqrstuvwxyz",
            "expires_in": 3599,
            "expires_at": "2026-11-24T13:00:00Z",
            "strategy": {"type": "header", "config": {"header_name": "X-API-Key"}},
            "credentials": {"api_key": "sk_live_abcdefghijklmnopqrstuvwxyz", "n": 5},
        }))
        .unwrap();
        let summary = masked_summary(&response);
        let text = summary.to_string();
        assert!(!text.contains("abcdefghijklmnop"), "{text}");
        assert_eq!(summary["access_token"], "tok_…(30 chars)");
        assert_eq!(summary["credentials"]["api_key"], "sk_l…(34 chars)");
        assert_eq!(summary["strategy_check"]["kind"], "header");
        assert_eq!(summary["expires_in"], 3599);
    }

    #[test]
    fn an_invalid_strategy_is_shown_not_fatal() {
        let response: ResolveResponse =
            serde_json::from_value(json!({"strategy": {"type": "magic"}})).unwrap();
        let summary = masked_summary(&response);
        assert_eq!(summary["strategy_check"]["valid"], false);
    }
}
