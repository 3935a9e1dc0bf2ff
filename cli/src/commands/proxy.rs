//! `nexus proxy`: one call to a provider's API through the gateway's proxy mode
//! (`docs/proxy.md`), through the SDK core's client (`NexusClient::proxy_fetch`: same URL rules,
//! same credential, same classification as every SDK). The gateway injects the provider's
//! credential, so the operator's shell never sees it.
//!
//! The upstream's body goes to stdout as raw bytes (pipe it to `jq`); its status line (and the
//! headers with `--include`) to stderr. Exit codes: 0 for any upstream answer (`--fail`: 22
//! when its status is 400 or more, as `curl --fail`); a refusal by the gateway itself
//! (`Nexus-Error`: `insufficient_scope`, `invalid_proxy_path`, …) is 1, or 4 when the API key
//! was refused; 3 when the gateway cannot be reached; 2 for bad arguments.

use crate::args::ProxyArgs;
use crate::commands::resolve::sdk_error;
use crate::error::{CliError, CliResult, EXIT_OK, EXIT_RUNTIME};
use crate::target::GatewayTarget;
use nexus_sdk::{ClientOptions, FetchRequest, NexusClient};
use std::io::{ErrorKind, Read, Write};

pub async fn proxy(target: GatewayTarget, args: ProxyArgs) -> CliResult<()> {
    let gateway_url = target.gateway_url.clone();
    let mut options = ClientOptions::new(target.gateway_url, target.api_key);
    options.user_agent = concat!("nexus-cli/", env!("CARGO_PKG_VERSION")).to_owned();
    let client = NexusClient::new(options).map_err(|e| sdk_error(e, &gateway_url))?;
    let headers = args
        .header
        .iter()
        .map(|h| parse_header(h))
        .collect::<CliResult<Vec<_>>>()?;
    let body = match &args.data {
        None => None,
        Some(data) => Some(read_data(data)?.into()),
    };
    let request = FetchRequest {
        method: args.method.to_ascii_uppercase(),
        url: args.path.clone(),
        headers,
        body,
    };
    let answer = client
        .proxy_fetch(
            &args.workspace,
            &args.provider,
            request,
            args.host.as_deref(),
        )
        .await
        .map_err(|e| sdk_error(e, &gateway_url))?;
    eprintln!("HTTP {}", answer.status);
    if args.include {
        for (name, value) in &answer.headers {
            eprintln!("{name}: {value}");
        }
    }
    write_body(&answer.body);
    if args.fail && answer.status >= 400 {
        return Err(CliError::UpstreamStatus(answer.status));
    }
    Ok(())
}

/// `Name: value` (curl's `-H` form).
fn parse_header(text: &str) -> CliResult<(String, String)> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| CliError::config(format!("-H takes `Name: value`, got `{text}`")))?;
    let name = name.trim();
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
        return Err(CliError::config("-H: invalid header name"));
    }
    Ok((name.to_owned(), value.trim().to_owned()))
}

/// `--data`: the text itself, `@FILE`, or `@-` for stdin.
fn read_data(data: &str) -> CliResult<Vec<u8>> {
    match data.strip_prefix('@') {
        None => Ok(data.as_bytes().to_vec()),
        Some("-") => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .map_err(|e| CliError::config(format!("--data @-: cannot read stdin: {e}")))?;
            Ok(bytes)
        }
        Some(path) => std::fs::read(path)
            .map_err(|e| CliError::config(format!("--data @{path}: cannot read it: {e}"))),
    }
}

/// The body as the upstream sent it; a closed stdout (`| head`) ends quietly.
fn write_body(body: &[u8]) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(body).and_then(|()| out.flush()) {
        if e.kind() == ErrorKind::BrokenPipe {
            std::process::exit(EXIT_OK);
        }
        eprintln!("nexus: error: cannot write to stdout: {e}");
        std::process::exit(EXIT_RUNTIME);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_and_data_are_read_as_curl_does() {
        assert_eq!(
            parse_header("Accept:  application/json ").unwrap(),
            ("Accept".into(), "application/json".into())
        );
        assert!(parse_header("no colon").is_err());
        assert!(parse_header(": empty").is_err());
        assert_eq!(read_data("{\"a\":1}").unwrap(), b"{\"a\":1}");
        assert!(read_data("@/nonexistent/file").is_err());
    }
}
