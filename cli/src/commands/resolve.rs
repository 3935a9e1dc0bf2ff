//! `nexus resolve`: resolve a credential exactly as an SDK does, through the SDK core's client
//! (`nexus_sdk::NexusClient`: same request, retries and response parsing), and show what came
//! back with every secret masked.

use crate::args::ResolveArgs;
use crate::error::{CliError, CliResult};
use crate::output::{mask, outln, print_json};
use crate::target::GatewayTarget;
use nexus_sdk::{CachedToken, ClientOptions, NexusClient, NexusError, ResolveOptions};
use serde_json::{Value, json};

const REJECTED_HINT: &str = "check NEXUS_API_KEY; the key must belong to the workspace you ask for (`nexus api-keys create`)";
const UNREACHABLE_HINT: &str = "is `nexus dev` (or `nexus serve gateway`) running? Check NEXUS_GATEWAY_URL or the home's dev.env";

pub async fn resolve(target: GatewayTarget, args: ResolveArgs, json: bool) -> CliResult<()> {
    let gateway_url = target.gateway_url.clone();
    let mut options = ClientOptions::new(target.gateway_url, target.api_key);
    options.user_agent = concat!("nexus-cli/", env!("CARGO_PKG_VERSION")).to_owned();
    let client = NexusClient::new(options).map_err(|e| sdk_error(e, &gateway_url))?;
    let resolve_options = ResolveOptions {
        min_ttl: args.min_ttl,
        force_refresh: args.force_refresh,
    };
    let token = client
        .resolve(&args.workspace, &args.provider, resolve_options)
        .await
        .map_err(|e| sdk_error(e, &gateway_url))?;
    let summary = masked_summary(&token);
    if json {
        print_json(&summary);
    } else {
        print_summary(&summary);
    }
    Ok(())
}

/// An SDK error as a CLI error with its exit code: a refused key is "rejected" (4), a gateway
/// that cannot be reached is "unreachable" (3), a bad URL or key format is a config error (2).
pub(crate) fn sdk_error(e: NexusError, gateway_url: &str) -> CliError {
    match e {
        NexusError::Api(api) => {
            let code = api.code.as_str().to_owned();
            if matches!(api.status, 401 | 403)
                && matches!(code.as_str(), "unauthorized" | "forbidden")
            {
                CliError::Rejected {
                    what: "gateway",
                    credential: "API key",
                    status: api.status,
                    message: api.message,
                    hint: REJECTED_HINT,
                }
            } else {
                CliError::Api {
                    what: "gateway",
                    status: api.status,
                    code,
                    message: api.message,
                }
            }
        }
        NexusError::Connect(reason) | NexusError::Timeout(reason) => CliError::Unreachable {
            what: "gateway",
            url: gateway_url.to_owned(),
            reason,
            hint: UNREACHABLE_HINT,
        },
        NexusError::InvalidRequest(reason) => CliError::config(reason),
        other => CliError::runtime(other.to_string()),
    }
}

/// The credential with the access token and every credential value masked: safe to print,
/// log or paste into an issue.
fn masked_summary(token: &CachedToken) -> Value {
    let fields = token.credentials();
    let credentials: serde_json::Map<String, Value> = fields
        .field_names()
        .map(|name| {
            let shown = fields
                .get_str(name)
                .map(|v| mask(&v))
                .unwrap_or_else(|| "…".into());
            (name.to_owned(), Value::String(shown))
        })
        .collect();
    // The typed strategy is what the SDK will apply (defaults filled in), or why it cannot.
    let strategy_check = match token.strategy() {
        Ok(s) => json!({"valid": true, "kind": s.kind()}),
        Err(e) => json!({"valid": false, "error": e.to_string()}),
    };
    json!({
        "strategy": token.strategy_spec(),
        "strategy_check": strategy_check,
        "token_type": token.token_type(),
        "access_token": token.access_token().map(mask),
        "expires_at": token.expires_at_rfc3339(),
        "expires_in": token.seconds_remaining(),
        "scopes": token.scopes(),
        "api_base_url": token.api_base_url(),
        "connection_id": token.connection_id(),
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
    use nexus_protocol::ResolveResponse;

    fn token(body: Value) -> CachedToken {
        let response: ResolveResponse = serde_json::from_value(body).unwrap();
        CachedToken::from_response(response, chrono::Utc::now(), std::time::Instant::now())
    }

    #[test]
    fn the_summary_masks_every_secret() {
        let summary = masked_summary(&token(json!({
            "access_token": "tok_abcdefghijklmnopqrstuvwxyz",
            "expires_in": 3599,
            "strategy": {"type": "header", "config": {"header_name": "X-API-Key"}},
            "credentials": {"api_key": "sk_live_abcdefghijklmnopqrstuvwxyz", "n": 5},
        })));
        let text = summary.to_string();
        assert!(!text.contains("abcdefghijklmnop"), "{text}");
        assert_eq!(summary["access_token"], "tok_…(30 chars)");
        assert_eq!(summary["credentials"]["api_key"], "sk_l…(34 chars)");
        assert_eq!(summary["strategy_check"]["kind"], "header");
        let left = summary["expires_in"].as_u64().unwrap();
        assert!((3590..=3599).contains(&left), "{left}");
        assert!(summary["expires_at"].is_string());
    }

    #[test]
    fn an_invalid_strategy_is_shown_not_fatal() {
        let summary = masked_summary(&token(json!({"strategy": {"type": "magic"}})));
        assert_eq!(summary["strategy_check"]["valid"], false);
        assert_eq!(
            summary["expires_in"],
            Value::Null,
            "no expiry: never expires"
        );
    }

    #[test]
    fn sdk_errors_keep_their_exit_codes() {
        let url = "http://127.0.0.1:1";
        assert_eq!(
            sdk_error(NexusError::Connect("refused".into()), url).exit_code(),
            3
        );
        assert_eq!(
            sdk_error(NexusError::Timeout("slow".into()), url).exit_code(),
            3
        );
        assert_eq!(
            sdk_error(NexusError::InvalidRequest("bad url".into()), url).exit_code(),
            2
        );
    }
}
