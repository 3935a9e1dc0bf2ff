//! What clients receive, written out in full: the effective strategy (every default explicit)
//! and the fields older Nexus clients read beside this protocol's own.
//!
//! The typed [`Strategy`] fills defaults internally; a client that does not share those
//! defaults must not have to guess them. The original Nexus SDKs, for instance, assume
//! `"Bearer "` when `value_prefix` is missing and find a static key only through
//! `credential_field`, and they read a `scope` string rather than the `scopes` list. The
//! gateway applies [`ResolveResponse::for_clients`] to every credential it hands out.

use crate::resolve::ResolveResponse;
use crate::strategy::{HmacAlgo, SignatureEncoding, Strategy, StrategyError, StrategySpec};

impl Strategy {
    /// The wire form with every field explicit (defaults written out), under the canonical type
    /// name (`bearer` becomes `oauth2`, `api_key` becomes `header`).
    /// `Strategy::from_spec(&s.to_spec()) == Ok(s)` for every strategy.
    pub fn to_spec(&self) -> StrategySpec {
        let spec = StrategySpec::new(self.kind());
        match self {
            Self::OAuth2 {
                header_name,
                value_prefix,
                credential_field,
            }
            | Self::Header {
                header_name,
                value_prefix,
                credential_field,
            } => spec
                .with("header_name", header_name.as_str())
                .with("value_prefix", value_prefix.as_str())
                .with("credential_field", credential_field.as_str()),
            Self::QueryParam {
                param_name,
                credential_field,
            } => spec
                .with("param_name", param_name.as_str())
                .with("credential_field", credential_field.as_str()),
            Self::BasicAuth {
                username_field,
                password_field,
            } => spec
                .with("username_field", username_field.as_str())
                .with("password_field", password_field.as_str()),
            Self::HmacPayload {
                header_name,
                secret_field,
                algo,
                encoding,
            } => spec
                .with("header_name", header_name.as_str())
                .with("secret_field", secret_field.as_str())
                .with("algo", algo_name(*algo))
                .with("encoding", encoding_name(*encoding)),
            Self::AwsSigV4 { region, service } => spec
                .with("region", region.as_str())
                .with("service", service.as_str()),
        }
    }
}

fn algo_name(algo: HmacAlgo) -> &'static str {
    match algo {
        HmacAlgo::Sha256 => "sha256",
        HmacAlgo::Sha1 => "sha1",
    }
}

fn encoding_name(encoding: SignatureEncoding) -> &'static str {
    match encoding {
        SignatureEncoding::Hex => "hex",
        SignatureEncoding::Base64 => "base64",
    }
}

impl StrategySpec {
    /// This strategy as clients receive it: [`Strategy::to_spec`] of its typed form, plus the
    /// config keys the typed form does not read, kept as they are.
    pub fn effective(&self) -> Result<StrategySpec, StrategyError> {
        let mut spec = Strategy::from_spec(self)?.to_spec();
        for (key, value) in &self.config {
            spec.config
                .entry(key.clone())
                .or_insert_with(|| value.clone());
        }
        Ok(spec)
    }
}

impl ResolveResponse {
    /// The answer as the gateway sends it to clients:
    /// - `strategy` is the effective one ([`StrategySpec::effective`]);
    /// - `scope` carries `scopes` as one space-separated string (RFC 6749 §3.3);
    /// - for strategies that inject one credential into one header (`oauth2`, `header`),
    ///   `access_token` carries that credential when it was missing, so a client that reads only
    ///   `access_token` still finds it.
    ///
    /// `provider` is set by the broker, which knows the connection's provider. An invalid stored
    /// strategy is an error and leaves the answer as it was: the caller decides what to send.
    pub fn for_clients(&mut self) -> Result<(), StrategyError> {
        let typed = Strategy::from_spec(&self.strategy)?;
        let effective = self.strategy.effective()?;
        if self.access_token.is_none()
            && let Strategy::OAuth2 {
                credential_field, ..
            }
            | Strategy::Header {
                credential_field, ..
            } = &typed
        {
            self.access_token = self
                .credentials
                .get_str(credential_field)
                .map(crate::SecretString::new);
        }
        self.strategy = effective;
        self.scope = Some(self.scopes.join(" "));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn effective_spec_writes_out_every_default() {
        let cases = [
            (
                StrategySpec::new("header").with("header_name", "X-Trial-Key"),
                json!({"type": "header", "config": {"header_name": "X-Trial-Key",
                       "value_prefix": "", "credential_field": "api_key"}}),
            ),
            (
                StrategySpec::new("api_key"),
                json!({"type": "header", "config": {"header_name": "Authorization",
                       "value_prefix": "Bearer ", "credential_field": "api_key"}}),
            ),
            (
                StrategySpec::new("bearer"),
                json!({"type": "oauth2", "config": {"header_name": "Authorization",
                       "value_prefix": "Bearer ", "credential_field": "access_token"}}),
            ),
            (
                StrategySpec::new("query_param"),
                json!({"type": "query_param", "config": {"param_name": "api_key",
                       "credential_field": "api_key"}}),
            ),
            (
                StrategySpec::new("basic_auth"),
                json!({"type": "basic_auth", "config": {"username_field": "username",
                       "password_field": "password"}}),
            ),
            (
                StrategySpec::new("hmac_payload").with("algo", "SHA1"),
                json!({"type": "hmac_payload", "config": {"header_name": "X-Signature",
                       "secret_field": "secret", "algo": "sha1", "encoding": "hex"}}),
            ),
            (
                StrategySpec::new("aws_sigv4")
                    .with("region", "eu-west-1")
                    .with("service", "s3"),
                json!({"type": "aws_sigv4", "config": {"region": "eu-west-1", "service": "s3"}}),
            ),
        ];
        for (stored, expected) in cases {
            let effective = stored.effective().unwrap();
            assert_eq!(serde_json::to_value(&effective).unwrap(), expected);
            // The same meaning as what was stored, and a fixed point.
            assert_eq!(
                Strategy::from_spec(&effective),
                Strategy::from_spec(&stored)
            );
            assert_eq!(effective.effective().unwrap(), effective);
        }
    }

    #[test]
    fn effective_spec_keeps_explicit_values_and_unknown_keys() {
        let stored = StrategySpec::new("header")
            .with("header_name", "X-Key")
            .with("value_prefix", "Token ")
            .with("note", "kept");
        let effective = stored.effective().unwrap();
        assert_eq!(effective.config["value_prefix"], "Token ");
        assert_eq!(effective.config["note"], "kept");
        assert!(matches!(
            StrategySpec::new("magic").effective(),
            Err(StrategyError::UnknownType(_))
        ));
    }

    /// Every strategy of the shared vectors means the same once written out in full, so every
    /// SDK injects the same credential from the effective form as from the stored one.
    #[test]
    fn effective_form_of_every_vector_strategy_means_the_same() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/vectors/strategies.json"
        );
        let vectors: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut checked = 0;
        for case in vectors["cases"].as_array().unwrap() {
            let Ok(stored) =
                serde_json::from_value::<StrategySpec>(case["resolve"]["strategy"].clone())
            else {
                continue;
            };
            let Ok(typed) = Strategy::from_spec(&stored) else {
                continue;
            };
            let effective = stored.effective().unwrap();
            assert_eq!(
                Strategy::from_spec(&effective),
                Ok(typed),
                "{}",
                case["name"]
            );
            checked += 1;
        }
        assert!(checked >= 25, "only {checked} vector strategies checked");
    }

    fn answer(strategy: serde_json::Value, credentials: serde_json::Value) -> ResolveResponse {
        serde_json::from_value(json!({
            "strategy": strategy, "credentials": credentials, "scopes": ["repo", "read:user"]
        }))
        .unwrap()
    }

    fn for_clients(mut answer: ResolveResponse) -> ResolveResponse {
        answer.for_clients().unwrap();
        answer
    }

    #[test]
    fn for_clients_fills_scope_strategy_and_the_header_credential() {
        let static_key = for_clients(answer(
            json!({"type": "header", "config": {"header_name": "X-Trial-Key",
                   "credential_field": "token"}}),
            json!({"token": "k-123"}),
        ));
        let v = serde_json::to_value(&static_key).unwrap();
        assert_eq!(v["scope"], "repo read:user");
        assert_eq!(v["scopes"], json!(["repo", "read:user"]));
        assert_eq!(v["access_token"], "k-123");
        assert_eq!(v["strategy"]["config"]["value_prefix"], "");
        assert_eq!(v["strategy"]["config"]["credential_field"], "token");

        // Strategies that are not one header keep `access_token` as the broker sent it.
        let basic = for_clients(answer(
            json!({"type": "basic_auth"}),
            json!({"username": "u", "password": "p"}),
        ));
        assert!(basic.access_token.is_none());

        let mut none = answer(json!({"type": "oauth2"}), json!({"access_token": "t"}));
        none.scopes.clear();
        let no_scopes = for_clients(none);
        assert_eq!(no_scopes.scope.as_deref(), Some(""));
    }

    #[test]
    fn for_clients_refuses_an_invalid_stored_strategy() {
        let stored = answer(
            json!({"type": "header", "config": {"header_name": "X Bad"}}),
            json!({"api_key": "k"}),
        );
        let mut bad = stored.clone();
        assert!(matches!(
            bad.for_clients(),
            Err(StrategyError::InvalidHeaderName(_))
        ));
        assert_eq!(bad, stored, "left as it was");
    }
}
