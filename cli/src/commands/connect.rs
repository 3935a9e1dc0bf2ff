//! `nexus connect`: print a signed, single-use link to the broker's connect page (or, with
//! `--direct`, start one OAuth flow and print the provider's authorize URL).

use super::admin::{provider_name, workspace_path};
use crate::args::ConnectArgs;
use crate::error::{CliError, CliResult};
use crate::http::{ApiClient, Body, parse_answer};
use crate::output::{outln, print_json};
use nexus_protocol::RequestConnectionResponse;
use nexus_protocol::admin::AdminConnectRequest;
use nexus_protocol::connect_link::{ConnectLinkRequest, ConnectLinkResponse};

pub async fn connect(client: &ApiClient, args: ConnectArgs, json: bool) -> CliResult<()> {
    if args.direct {
        return connect_direct(client, args, json).await;
    }
    let path = workspace_path(&args.workspace, "/connect-links")?;
    let body = ConnectLinkRequest {
        user_id: args.user_id,
        providers: args
            .providers
            .into_iter()
            .map(provider_name)
            .collect::<CliResult<_>>()?,
        ttl_seconds: args.ttl,
    };
    let issued = client.post(&path, &[], Body::json(&body)?).await?;
    if json {
        print_json(&issued);
        return Ok(());
    }
    let issued: ConnectLinkResponse = parse_answer(&issued, "broker")?;
    // Only the link on stdout: `LINK=$(nexus connect --workspace w)` must work.
    outln!("{}", issued.url);
    eprintln!(
        "single-use connect link for workspace {}, valid until {}",
        args.workspace, issued.expires_at
    );
    Ok(())
}

/// `nexus connect --direct`: start one OAuth flow (the behaviour before connect links).
async fn connect_direct(client: &ApiClient, args: ConnectArgs, json: bool) -> CliResult<()> {
    let path = workspace_path(&args.workspace, "/connect")?;
    let [provider] = <[String; 1]>::try_from(args.providers)
        .map_err(|_| CliError::Config("`--direct` needs exactly one `--provider`".into()))?;
    let body = AdminConnectRequest {
        provider_name: provider_name(provider)?,
        user_id: args.user_id,
        scopes: args.scopes,
        return_url: args.return_url,
    };
    let started = client.post(&path, &[], Body::json(&body)?).await?;
    if json {
        print_json(&started);
        return Ok(());
    }
    let started: RequestConnectionResponse = parse_answer(&started, "broker")?;
    outln!("{}", started.auth_url);
    eprintln!(
        "open the URL above to authorize; connection {} stays pending until then (`nexus connections list --workspace {}`)",
        started.connection_id, args.workspace
    );
    Ok(())
}
