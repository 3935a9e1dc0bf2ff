//! The strategies whose injection does not depend on the request: a bearer/header/basic header,
//! or a query parameter. [`request_independent`] says which (and what they inject), so a binding
//! that sends many requests with one credential may reuse the injection instead of asking the
//! core per request; [`super::apply`] is built on it, so both agree by construction.

use super::{Fields, prefixed_header_value, query};
use crate::error::Result;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use nexus_protocol::{Credentials, Strategy};
use std::fmt;

/// What a request-independent strategy injects into every request.
///
/// It stays valid for as long as the credential it came from is served (it is a function of the
/// strategy and the credential fields only). It applies to a request the core accepts (method an
/// HTTP token, absolute http(s) URL, header names tokens, values without control characters):
/// a binding that skips [`super::apply`] must know that of the request by some other means.
#[derive(Clone, PartialEq, Eq)]
pub struct RequestIndependent {
    /// Headers to set, each replacing the request's headers of that name (case-insensitive),
    /// appended after the request's other headers in this order ([`super::Injection::merge_into`]).
    pub headers: Vec<(String, String)>,
    /// `query_param`: the parameter (decoded name, decoded value) set in the URL's query.
    pub query: Option<(String, String)>,
}

impl RequestIndependent {
    /// The query the `query_param` strategy gives a URL that has neither a query nor a fragment
    /// (no `?`, no `#`): the URL plus `?` plus this is exactly [`super::apply`]'s URL. Any other
    /// URL needs the core's edit (existing pairs of that name are removed, the rest kept as is).
    pub fn query_of_bare_url(&self) -> Option<String> {
        self.query
            .as_ref()
            .map(|(name, value)| query::encoded_pair(name, value))
    }
}

impl fmt::Debug for RequestIndependent {
    // Values carry the credential: names only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestIndependent")
            .field("headers", &super::header_names(&self.headers))
            .field("query", &self.query.as_ref().map(|(name, _)| name))
            .finish()
    }
}

/// The injection of `strategy` with `credentials` when it does not depend on the request;
/// `None` for the signing strategies (`hmac_payload`, `aws_sigv4`), whose signature covers the
/// request. A missing or unsafe credential is the same error [`super::apply`] gives.
pub fn request_independent(
    strategy: &Strategy,
    credentials: &Credentials,
) -> Result<Option<RequestIndependent>> {
    let fields = Fields {
        strategy: strategy.kind(),
        credentials,
    };
    let header = |name: &str, value: String| RequestIndependent {
        headers: vec![(name.to_owned(), value)],
        query: None,
    };
    let fixed = match strategy {
        Strategy::OAuth2 {
            header_name,
            value_prefix,
            credential_field,
        }
        | Strategy::Header {
            header_name,
            value_prefix,
            credential_field,
        } => {
            let value = fields.header_safe(credential_field)?;
            header(
                header_name,
                prefixed_header_value(strategy.kind(), value_prefix, &value)?,
            )
        }
        Strategy::QueryParam {
            param_name,
            credential_field,
        } => RequestIndependent {
            headers: Vec::new(),
            query: Some((param_name.clone(), fields.header_safe(credential_field)?)),
        },
        Strategy::BasicAuth {
            username_field,
            password_field,
        } => {
            let username = fields.header_safe(username_field)?;
            // RFC 7617: the user-id cannot contain a colon (it would shift into the password).
            if username.contains(':') {
                return Err(fields.invalid(username_field));
            }
            let password = fields.header_safe(password_field)?;
            let encoded = BASE64.encode(format!("{username}:{password}"));
            header("Authorization", format!("Basic {encoded}"))
        }
        Strategy::HmacPayload { .. } | Strategy::AwsSigV4 { .. } => return Ok(None),
    };
    Ok(Some(fixed))
}

#[cfg(test)]
mod tests {
    use super::super::{RequestParts, apply};
    use super::*;
    use chrono::Utc;
    use nexus_protocol::StrategySpec;

    fn strategy(v: serde_json::Value) -> Strategy {
        Strategy::from_spec(&serde_json::from_value::<StrategySpec>(v).unwrap()).unwrap()
    }

    fn creds(pairs: &[(&str, &str)]) -> Credentials {
        let mut c = Credentials::default();
        for (k, v) in pairs {
            c.insert(*k, *v);
        }
        c
    }

    #[test]
    fn the_reusable_injection_is_what_apply_injects() {
        let c = creds(&[("access_token", "t 1"), ("api_key", "k&1"), ("secret", "s")]);
        let url = "https://a.example/x";
        let parts = RequestParts {
            method: "GET",
            url,
            headers: &[],
            body: b"",
        };
        for spec in [
            serde_json::json!({"type": "oauth2"}),
            serde_json::json!({"type": "header", "config": {"header_name": "X-Key", "credential_field": "api_key"}}),
            serde_json::json!({"type": "query_param", "config": {"param_name": "k y", "credential_field": "api_key"}}),
        ] {
            let s = strategy(spec);
            let fixed = request_independent(&s, &c).unwrap().unwrap();
            let applied = apply(&s, &c, &parts, Utc::now()).unwrap();
            assert_eq!(fixed.headers, applied.headers);
            let bare = match fixed.query_of_bare_url() {
                Some(q) => format!("{url}?{q}"),
                None => url.to_owned(),
            };
            assert_eq!(bare, applied.url);
            assert!(!format!("{fixed:?}").contains("k&1"));
        }
        let hmac = strategy(
            serde_json::json!({"type": "hmac_payload", "config": {"header_name": "X-Sig"}}),
        );
        assert!(request_independent(&hmac, &c).unwrap().is_none());
        let missing = request_independent(
            &strategy(serde_json::json!({"type": "oauth2"})),
            &creds(&[]),
        );
        assert_eq!(missing.unwrap_err().code(), "missing_credential_field");
    }
}
