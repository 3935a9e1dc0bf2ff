//! Strict parsing of the `/v1/resolve` query string and of ids taken from paths.
//!
//! serde's query deserializers silently keep the last of a repeated parameter and replace invalid
//! UTF-8; a credential API should instead say exactly what is wrong. So the query is decoded here
//! by hand: every pair percent-decoded to bytes, checked as UTF-8, and then matched against the
//! closed set of parameters of `nexus_protocol::ResolveQuery`.

use crate::error::ApiError;
use nexus_protocol::{ConnectionId, IdError, ProviderName, WorkspaceId};
use percent_encoding::percent_decode;
use std::borrow::Cow;

/// The validated parameters of `GET /v1/resolve`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveParams {
    pub workspace_id: WorkspaceId,
    pub provider_name: ProviderName,
    pub min_ttl: Option<u64>,
    pub force_refresh: bool,
}

/// The parameters of `GET /v1/resolve` as sent and validated, borrowing from the query string
/// when nothing in them was escaped (the usual case): a warm resolve then copies no string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveArgs<'a> {
    /// Follows [`WorkspaceId`]'s rule.
    pub workspace_id: Cow<'a, str>,
    /// Follows [`ProviderName`]'s rule.
    pub provider_name: Cow<'a, str>,
    pub min_ttl: Option<u64>,
    pub force_refresh: bool,
}

impl ResolveArgs<'_> {
    /// The owned form (for the paths that hand the parameters on).
    pub fn to_params(&self) -> Result<ResolveParams, ApiError> {
        Ok(ResolveParams {
            workspace_id: WorkspaceId::new(self.workspace_id.as_ref())
                .map_err(|e| invalid("workspace_id", &e))?,
            provider_name: ProviderName::new(self.provider_name.as_ref())
                .map_err(|e| invalid("provider_name", &e))?,
            min_ttl: self.min_ttl,
            force_refresh: self.force_refresh,
        })
    }
}

pub fn parse_resolve_query(raw: Option<&str>) -> Result<ResolveParams, ApiError> {
    parse_resolve_args(raw)?.to_params()
}

/// [`parse_resolve_query`] without copying the values (same rules, same refusals).
pub fn parse_resolve_args(raw: Option<&str>) -> Result<ResolveArgs<'_>, ApiError> {
    let mut workspace_id = None;
    let mut provider_name = None;
    let mut min_ttl = None;
    let mut force_refresh = None;

    for pair in raw.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode_component(raw_name)?;
        let value = decode_component(raw_value)?;
        // `provider` is the older clients' name for `provider_name`: both fill one slot, so
        // sending both is a repeat too.
        let (slot, canonical) = match name.as_ref() {
            "workspace_id" => (&mut workspace_id, "workspace_id"),
            "provider_name" | "provider" => (&mut provider_name, "provider_name"),
            "min_ttl" => (&mut min_ttl, "min_ttl"),
            "force_refresh" => (&mut force_refresh, "force_refresh"),
            _ => {
                return Err(ApiError::invalid_request(format!(
                    "unknown query parameter `{}`; expected workspace_id, provider_name, min_ttl, force_refresh",
                    printable(&name)
                )));
            }
        };
        if slot.replace(value).is_some() {
            return Err(ApiError::invalid_request(format!(
                "query parameter `{canonical}` is repeated"
            )));
        }
    }

    let workspace_id = workspace_id
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::invalid_request("query parameter `workspace_id` is required"))?;
    if let Err(e) = WorkspaceId::check(&workspace_id) {
        return Err(invalid("workspace_id", &e));
    }
    let provider_name = provider_name
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::invalid_request("query parameter `provider_name` is required"))?;
    if let Err(e) = ProviderName::check(&provider_name) {
        return Err(invalid("provider_name", &e));
    }
    let min_ttl = min_ttl
        .map(|v| {
            v.parse::<u64>().map_err(|_| {
                ApiError::invalid_request("`min_ttl` must be a non-negative integer (seconds)")
            })
        })
        .transpose()?;
    let force_refresh = match force_refresh.as_deref() {
        None | Some("false") | Some("0") => false,
        Some("true") | Some("1") => true,
        Some(_) => {
            return Err(ApiError::invalid_request(
                "`force_refresh` must be `true` or `false`",
            ));
        }
    };
    Ok(ResolveArgs {
        workspace_id,
        provider_name,
        min_ttl,
        force_refresh,
    })
}

/// The id rules checked on a borrowed value: the id itself (and its copy) is only built for
/// the refusal's message.
trait CheckId {
    fn check(value: &str) -> Result<(), IdError>;
}

macro_rules! check_id {
    ($($id:ty),*) => {$(
        impl CheckId for $id {
            fn check(value: &str) -> Result<(), IdError> {
                if <$id>::is_valid(value) {
                    Ok(())
                } else {
                    <$id>::new(value).map(drop)
                }
            }
        }
    )*};
}
check_id!(WorkspaceId, ProviderName);

/// Every `name=value` pair of a query string, decoded (for the endpoints whose parameters are
/// looked up by name; unknown ones are ignored there, as the original gateway did).
pub fn query_pairs(raw: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    raw.unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((
                decode_component(name)?.into_owned(),
                decode_component(value)?.into_owned(),
            ))
        })
        .collect()
}

/// `application/x-www-form-urlencoded` decoding (`+` is a space) that refuses invalid UTF-8.
/// Borrows when nothing is escaped (the common case).
fn decode_component(raw: &str) -> Result<Cow<'_, str>, ApiError> {
    // Nothing escaped (the usual case): `raw` is already the value, and already UTF-8.
    if !raw.bytes().any(|b| b == b'%' || b == b'+') {
        return Ok(Cow::Borrowed(raw));
    }
    let not_utf8 = |_| ApiError::invalid_request("the query string is not valid UTF-8");
    if raw.contains('+') {
        let spaced = raw.replace('+', " ");
        let decoded = percent_decode(spaced.as_bytes())
            .decode_utf8()
            .map_err(not_utf8)?;
        return Ok(Cow::Owned(decoded.into_owned()));
    }
    percent_decode(raw.as_bytes())
        .decode_utf8()
        .map_err(not_utf8)
}

/// A 400 for a parameter that is not a valid id. The message states the rule and leaves the
/// value out: the caller knows what it sent, and the text may end up in logs.
pub fn invalid(name: &str, err: &IdError) -> ApiError {
    ApiError::invalid_request(format!("`{name}` {}", err.expected()))
}

/// A connection id taken from a path.
pub fn connection_id(raw: String) -> Result<ConnectionId, ApiError> {
    ConnectionId::new(raw).map_err(|e| invalid("connection id", &e))
}

/// A caller-supplied name made safe to echo in a message (bounded, no control characters).
fn printable(name: &str) -> String {
    name.chars().filter(|c| !c.is_control()).take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexus_protocol::ErrorCode;

    fn ok(q: &str) -> ResolveParams {
        parse_resolve_query(Some(q)).unwrap()
    }

    fn err(q: Option<&str>) -> String {
        let e = parse_resolve_query(q).unwrap_err();
        assert_eq!(e.body.error, ErrorCode::InvalidRequest);
        assert_eq!(e.status.as_u16(), 400);
        e.body.message
    }

    #[test]
    fn parses_all_parameters_and_the_alias() {
        let p = ok("workspace_id=acme&provider=github&min_ttl=120&force_refresh=true");
        assert_eq!(
            p,
            ResolveParams {
                workspace_id: WorkspaceId::new("acme").unwrap(),
                provider_name: ProviderName::new("github").unwrap(),
                min_ttl: Some(120),
                force_refresh: true
            }
        );
        let p = ok("provider_name=git%2Dhub&workspace_id=acme");
        assert_eq!(p.provider_name, "git-hub");
        assert_eq!(p.min_ttl, None);
        assert!(!p.force_refresh);
    }

    #[test]
    fn borrows_unescaped_values_and_decodes_escaped_ones() {
        let args = parse_resolve_args(Some("workspace_id=acme&provider_name=git%2Dhub")).unwrap();
        assert!(matches!(args.workspace_id, Cow::Borrowed("acme")));
        assert!(matches!(args.provider_name, Cow::Owned(ref p) if p == "git-hub"));
        assert_eq!(
            args.to_params().unwrap(),
            ok("workspace_id=acme&provider_name=git%2Dhub")
        );
    }

    #[test]
    fn refuses_missing_repeated_and_malformed() {
        assert!(err(None).contains("workspace_id"));
        assert!(err(Some("workspace_id=acme")).contains("provider_name"));
        assert!(err(Some("workspace_id=acme&workspace_id=b&provider=x")).contains("repeated"));
        assert!(err(Some("workspace_id=acme&provider=x&provider_name=y")).contains("repeated"));
        assert!(err(Some("workspace_id=acme&provider=x&min_ttl=ten")).contains("min_ttl"));
        assert!(err(Some("workspace_id=acme&provider=x&min_ttl=-1")).contains("min_ttl"));
        assert!(
            err(Some("workspace_id=acme&provider=x&force_refresh=yes")).contains("force_refresh")
        );
        assert!(err(Some("workspace_id=acme&provider=x&debug=1")).contains("unknown"));
        assert!(err(Some("workspace_id=acme&provider=%FF%FE")).contains("UTF-8"));
        assert!(err(Some("workspace_id=ACME&provider=x")).contains("workspace_id"));
        assert!(err(Some("workspace_id=acme&provider=a%2Fb")).contains("provider_name"));
        assert!(err(Some("workspace_id=acme&provider=..")).contains("provider_name"));
        // The refused value is never echoed back.
        let message = err(Some("workspace_id=acme&provider=Evil%0A%1B%5B2J"));
        assert!(message.contains("provider_name"), "{message}");
        assert!(!message.contains("Evil"), "{message}");
    }
}
