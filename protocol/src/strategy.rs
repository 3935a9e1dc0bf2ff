//! Injection strategies: how a credential is put into an upstream request.
//!
//! On the wire a strategy is `{"type": T, "config": {…}}` ([`StrategySpec`]); it is kept loose
//! there so that a client can carry a strategy it does not understand to an error instead of a
//! parse failure. [`Strategy::from_spec`] turns it into the typed form, applying the documented
//! defaults and rejecting anything that could produce a malformed or smuggled request. The SDK
//! core applies the typed form; the broker validates providers with it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;

/// A strategy as it travels on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StrategySpec {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub config: Map<String, Value>,
}

impl StrategySpec {
    pub fn new(kind: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            config: Map::new(),
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.config.insert(key.to_owned(), value.into());
        self
    }
}

/// Digest used by [`Strategy::HmacPayload`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HmacAlgo {
    Sha256,
    Sha1,
}

/// Text encoding of an HMAC signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureEncoding {
    Hex,
    Base64,
}

/// A validated strategy with every default filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strategy {
    /// `header_name: value_prefix + credentials[credential_field]`.
    /// Defaults: `Authorization`, `"Bearer "`, `access_token`.
    OAuth2 {
        header_name: String,
        value_prefix: String,
        credential_field: String,
    },
    /// `header_name: value_prefix + credentials[credential_field]`.
    /// Defaults: `Authorization`, `"Bearer "` when the header is `Authorization` and `""`
    /// otherwise, `api_key`. An explicit `""` prefix sends the raw value.
    Header {
        header_name: String,
        value_prefix: String,
        credential_field: String,
    },
    /// `?param_name=credentials[credential_field]`. Defaults: `api_key`, `api_key`.
    QueryParam {
        param_name: String,
        credential_field: String,
    },
    /// `Authorization: Basic base64(user:password)`. Defaults: `username`, `password`.
    BasicAuth {
        username_field: String,
        password_field: String,
    },
    /// `header_name: encode(HMAC(credentials[secret_field], body))`.
    /// Defaults: `X-Signature`, `secret`, `sha256`, `hex`.
    HmacPayload {
        header_name: String,
        secret_field: String,
        algo: HmacAlgo,
        encoding: SignatureEncoding,
    },
    /// AWS Signature Version 4 with credentials `access_key`, `secret_key`, optional
    /// `session_token`. `region` and `service` are required.
    AwsSigV4 { region: String, service: String },
}

/// Why a strategy cannot be used. Never contains a credential value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StrategyError {
    // Messages never repeat the submitted value: it may be anything, even a secret.
    #[error(
        "unknown strategy type (oauth2, header, query_param, basic_auth, hmac_payload, aws_sigv4)"
    )]
    UnknownType(String),
    #[error("strategy `{strategy}`: config field `{field}` must be {expected}")]
    InvalidConfig {
        strategy: String,
        field: String,
        expected: &'static str,
    },
    #[error("strategy `{strategy}`: config field `{field}` is required")]
    MissingConfig { strategy: String, field: String },
    #[error("`header_name` is not a valid HTTP header name")]
    InvalidHeaderName(String),
    #[error("strategy `{strategy}`: `{field}` contains CR, LF or NUL")]
    ForbiddenCharacter { strategy: String, field: String },
}

/// True when `name` is an RFC 9110 token (the grammar of a header name).
pub fn is_http_token(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// True when `value` contains a byte that would split or truncate an HTTP header line.
pub fn has_forbidden_char(value: &str) -> bool {
    value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0))
}

struct ConfigReader<'a> {
    strategy: &'a str,
    config: &'a Map<String, Value>,
}

impl ConfigReader<'_> {
    fn string(&self, field: &str) -> Result<Option<String>, StrategyError> {
        match self.config.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => {
                if has_forbidden_char(s) {
                    return Err(StrategyError::ForbiddenCharacter {
                        strategy: self.strategy.to_owned(),
                        field: field.to_owned(),
                    });
                }
                Ok(Some(s.clone()))
            }
            Some(_) => Err(StrategyError::InvalidConfig {
                strategy: self.strategy.to_owned(),
                field: field.to_owned(),
                expected: "a string",
            }),
        }
    }

    fn string_or(&self, field: &str, default: &str) -> Result<String, StrategyError> {
        Ok(self.string(field)?.unwrap_or_else(|| default.to_owned()))
    }

    /// A string that must also be non-empty (field names, parameter names).
    fn name_or(&self, field: &str, default: &str) -> Result<String, StrategyError> {
        let value = self.string_or(field, default)?;
        if value.is_empty() {
            return Err(StrategyError::InvalidConfig {
                strategy: self.strategy.to_owned(),
                field: field.to_owned(),
                expected: "a non-empty string",
            });
        }
        Ok(value)
    }

    fn required(&self, field: &str) -> Result<String, StrategyError> {
        match self.string(field)? {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(StrategyError::MissingConfig {
                strategy: self.strategy.to_owned(),
                field: field.to_owned(),
            }),
        }
    }

    fn header_name_or(&self, default: &str) -> Result<String, StrategyError> {
        let name = self.string_or("header_name", default)?;
        if !is_http_token(&name) {
            return Err(StrategyError::InvalidHeaderName(name));
        }
        Ok(name)
    }
}

impl Strategy {
    /// Validate a wire strategy and fill in its defaults.
    pub fn from_spec(spec: &StrategySpec) -> Result<Self, StrategyError> {
        let r = ConfigReader {
            strategy: &spec.kind,
            config: &spec.config,
        };
        match spec.kind.as_str() {
            "oauth2" | "bearer" => Ok(Self::OAuth2 {
                header_name: r.header_name_or("Authorization")?,
                value_prefix: r.string_or("value_prefix", "Bearer ")?,
                credential_field: r.name_or("credential_field", "access_token")?,
            }),
            "header" | "api_key" => {
                let header_name = r.header_name_or("Authorization")?;
                let default_prefix = if header_name.eq_ignore_ascii_case("authorization") {
                    "Bearer "
                } else {
                    ""
                };
                Ok(Self::Header {
                    value_prefix: r.string_or("value_prefix", default_prefix)?,
                    credential_field: r.name_or("credential_field", "api_key")?,
                    header_name,
                })
            }
            "query_param" => Ok(Self::QueryParam {
                param_name: r.name_or("param_name", "api_key")?,
                credential_field: r.name_or("credential_field", "api_key")?,
            }),
            "basic_auth" => Ok(Self::BasicAuth {
                username_field: r.name_or("username_field", "username")?,
                password_field: r.name_or("password_field", "password")?,
            }),
            "hmac_payload" => Ok(Self::HmacPayload {
                header_name: r.header_name_or("X-Signature")?,
                secret_field: r.name_or("secret_field", "secret")?,
                algo: match r.string_or("algo", "sha256")?.to_ascii_lowercase().as_str() {
                    "sha256" => HmacAlgo::Sha256,
                    "sha1" => HmacAlgo::Sha1,
                    _ => return Err(invalid(&spec.kind, "algo", "`sha256` or `sha1`")),
                },
                encoding: match r
                    .string_or("encoding", "hex")?
                    .to_ascii_lowercase()
                    .as_str()
                {
                    "hex" => SignatureEncoding::Hex,
                    "base64" => SignatureEncoding::Base64,
                    _ => return Err(invalid(&spec.kind, "encoding", "`hex` or `base64`")),
                },
            }),
            "aws_sigv4" => Ok(Self::AwsSigV4 {
                region: r.required("region")?,
                service: r.required("service")?,
            }),
            other => Err(StrategyError::UnknownType(other.to_owned())),
        }
    }

    /// The wire name of this strategy.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::OAuth2 { .. } => "oauth2",
            Self::Header { .. } => "header",
            Self::QueryParam { .. } => "query_param",
            Self::BasicAuth { .. } => "basic_auth",
            Self::HmacPayload { .. } => "hmac_payload",
            Self::AwsSigV4 { .. } => "aws_sigv4",
        }
    }

    /// The credential fields this strategy reads; a resolve response must carry all of the
    /// required ones (`session_token` of SigV4 is optional and not listed).
    pub fn required_fields(&self) -> Vec<&str> {
        match self {
            Self::OAuth2 {
                credential_field, ..
            }
            | Self::Header {
                credential_field, ..
            } => {
                vec![credential_field]
            }
            Self::QueryParam {
                credential_field, ..
            } => vec![credential_field],
            Self::BasicAuth {
                username_field,
                password_field,
            } => {
                vec![username_field, password_field]
            }
            Self::HmacPayload { secret_field, .. } => vec![secret_field],
            Self::AwsSigV4 { .. } => vec!["access_key", "secret_key"],
        }
    }
}

fn invalid(strategy: &str, field: &str, expected: &'static str) -> StrategyError {
    StrategyError::InvalidConfig {
        strategy: strategy.to_owned(),
        field: field.to_owned(),
        expected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oauth2_defaults() {
        let s = Strategy::from_spec(&StrategySpec::new("oauth2")).unwrap();
        assert_eq!(
            s,
            Strategy::OAuth2 {
                header_name: "Authorization".into(),
                value_prefix: "Bearer ".into(),
                credential_field: "access_token".into()
            }
        );
    }

    #[test]
    fn header_prefix_depends_on_header_name() {
        let auth = Strategy::from_spec(&StrategySpec::new("header")).unwrap();
        assert!(
            matches!(auth, Strategy::Header { ref value_prefix, .. } if value_prefix == "Bearer ")
        );
        let custom =
            Strategy::from_spec(&StrategySpec::new("header").with("header_name", "X-API-Key"))
                .unwrap();
        assert!(
            matches!(custom, Strategy::Header { ref value_prefix, .. } if value_prefix.is_empty())
        );
        let raw =
            Strategy::from_spec(&StrategySpec::new("header").with("value_prefix", "")).unwrap();
        assert!(
            matches!(raw, Strategy::Header { ref value_prefix, .. } if value_prefix.is_empty())
        );
    }

    #[test]
    fn rejects_bad_header_names_and_crlf() {
        let bad = StrategySpec::new("header").with("header_name", "X-Evil\r\nHost");
        assert!(matches!(
            Strategy::from_spec(&bad),
            Err(StrategyError::ForbiddenCharacter { .. })
        ));
        let spaced = StrategySpec::new("header").with("header_name", "X Key");
        assert!(matches!(
            Strategy::from_spec(&spaced),
            Err(StrategyError::InvalidHeaderName(_))
        ));
        let prefix = StrategySpec::new("header").with("value_prefix", "a\nb");
        assert!(Strategy::from_spec(&prefix).is_err());
    }

    #[test]
    fn unknown_type_and_missing_sigv4_config_are_errors() {
        assert_eq!(
            Strategy::from_spec(&StrategySpec::new("magic")),
            Err(StrategyError::UnknownType("magic".into()))
        );
        assert!(matches!(
            Strategy::from_spec(&StrategySpec::new("aws_sigv4").with("region", "us-east-1")),
            Err(StrategyError::MissingConfig { .. })
        ));
    }
}
