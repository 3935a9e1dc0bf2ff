//! A provider's `proxy` settings ([`ProxyConfig`]) and the rules that refuse bad ones.

use super::units::{
    duration_ms_de, duration_ms_ser, signed_duration_ms_de, signed_duration_ms_ser, size_de,
};
use crate::proxy_rules::{MAX_RULES, ProxyRule};
use serde::{Deserialize, Serialize};

/// Hard upper bound of `proxy.timeout` (the gateway may cap lower).
pub const MAX_TIMEOUT_MS: u64 = 600_000;
/// Most retries `proxy.retry_on_throttle.max_attempts` may ask for: more would turn one call
/// into a queue of waits against an upstream that already said it is overloaded.
pub const MAX_THROTTLE_ATTEMPTS: i64 = 2;
/// Longest `proxy.retry_on_throttle.max_delay`: a retry is a short wait, not a scheduler.
pub const MAX_THROTTLE_DELAY_MS: i64 = 30_000;

/// A provider's proxy settings as written. Every field is optional; the gateway fills defaults
/// and applies its own caps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    /// Default: on when the provider has an `api_base_url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Other hosts (exact `host[:port]`, same scheme as `api_base_url`) a caller may select with
    /// `Nexus-Proxy-Host`. No wildcards.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_hosts: Vec<String>,
    /// Forward `%2F` inside a segment (GitLab-style ids) instead of refusing it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_encoded_slash: bool,
    /// Largest streamed request body, bytes.
    #[serde(
        default,
        deserialize_with = "size_de",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_body: Option<u64>,
    /// Largest body a signing strategy (`hmac_payload`, `aws_sigv4`) may read whole, bytes.
    #[serde(
        default,
        deserialize_with = "size_de",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_buffered_body: Option<u64>,
    /// Bodies up to this size are read before sending so a 401 can be retried, bytes.
    #[serde(
        default,
        deserialize_with = "size_de",
        skip_serializing_if = "Option::is_none"
    )]
    pub replay_buffer: Option<u64>,
    /// Time to the upstream's response headers, milliseconds (`timeout: 30s` in YAML).
    #[serde(
        default,
        rename = "timeout",
        alias = "timeout_ms",
        deserialize_with = "duration_ms_de",
        serialize_with = "duration_ms_ser",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout_ms: Option<u64>,
    /// Scope rules for agent sessions ([`crate::proxy_rules`]). With rules, a session's call
    /// passes only if a held scope's rule allows it; API keys are not subject to them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<ProxyRule>,
    /// Retry an upstream 429/503 whose `Retry-After` is short (default: off, passed through).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_on_throttle: Option<ThrottleRetry>,
}

/// `proxy.retry_on_throttle: { max_attempts: 1, max_delay: 2s }`: the gateway waits out an
/// upstream 429/503 and sends again, only for a replayable body and only when the upstream's
/// `Retry-After` is at most `max_delay`. The numbers are signed so that a negative value reaches
/// [`ProxyConfig::check`] and is refused there with the field's name, not as a parse error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ThrottleRetry {
    /// Retries after the first answer, 1..=[`MAX_THROTTLE_ATTEMPTS`] (default 1).
    #[serde(default = "one")]
    pub max_attempts: i64,
    /// Longest `Retry-After` that is waited out, milliseconds (`max_delay: 2s` in YAML; default
    /// 2 s; at most [`MAX_THROTTLE_DELAY_MS`]).
    #[serde(
        default = "two_seconds",
        rename = "max_delay",
        alias = "max_delay_ms",
        deserialize_with = "signed_duration_ms_de",
        serialize_with = "signed_duration_ms_ser"
    )]
    pub max_delay_ms: i64,
}

fn one() -> i64 {
    1
}

fn two_seconds() -> i64 {
    2_000
}

impl ThrottleRetry {
    fn check(&self) -> Result<(), ProxyConfigError> {
        if !(1..=MAX_THROTTLE_ATTEMPTS).contains(&self.max_attempts) {
            return Err(ProxyConfigError(format!(
                "`retry_on_throttle.max_attempts` must be 1..={MAX_THROTTLE_ATTEMPTS} (got {})",
                self.max_attempts
            )));
        }
        if !(0..=MAX_THROTTLE_DELAY_MS).contains(&self.max_delay_ms) {
            return Err(ProxyConfigError(format!(
                "`retry_on_throttle.max_delay` must be 0..={}s (got {}ms)",
                MAX_THROTTLE_DELAY_MS / 1000,
                self.max_delay_ms
            )));
        }
        Ok(())
    }
}

/// Why a [`ProxyConfig`] is refused (the words name the rule, never echo a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("proxy: {0}")]
pub struct ProxyConfigError(pub String);

impl ProxyConfig {
    /// True when the proxy serves this provider (`api_base_url` set and not switched off).
    pub fn is_enabled(config: Option<&Self>, api_base_url: Option<&str>) -> bool {
        api_base_url.is_some() && config.and_then(|c| c.enabled).unwrap_or(true)
    }

    /// Validate against the provider's `api_base_url`.
    pub fn check(&self, api_base_url: Option<&str>) -> Result<(), ProxyConfigError> {
        let err = |s: &str| Err(ProxyConfigError(s.to_owned()));
        if self.enabled == Some(true) && api_base_url.is_none() {
            return err("`enabled: true` needs the provider's `api_base_url`");
        }
        if self.allowed_hosts.len() > 32 {
            return err("`allowed_hosts` lists at most 32 hosts");
        }
        for host in &self.allowed_hosts {
            if !is_host_port(host) {
                return err(
                    "`allowed_hosts` entries are exact `host[:port]` (no scheme, path, user or wildcard)",
                );
            }
        }
        for (field, value) in [
            ("max_body", self.max_body),
            ("max_buffered_body", self.max_buffered_body),
            ("replay_buffer", self.replay_buffer),
            ("timeout", self.timeout_ms),
        ] {
            if value == Some(0) {
                return Err(ProxyConfigError(format!("`{field}` must be above zero")));
            }
        }
        if self.timeout_ms.is_some_and(|t| t > MAX_TIMEOUT_MS) {
            return err("`timeout` is at most 600s");
        }
        if let Some(retry) = &self.retry_on_throttle {
            retry.check()?;
        }
        self.check_rules()
    }

    /// Rules: at most [`MAX_RULES`], each a valid scope with at least one pattern, every
    /// pattern parsed ([`crate::proxy_rules::PatternError`]), `hosts` only entries of
    /// `allowed_hosts`.
    fn check_rules(&self) -> Result<(), ProxyConfigError> {
        if self.rules.len() > MAX_RULES {
            return Err(ProxyConfigError(format!(
                "`rules` lists at most {MAX_RULES} rules"
            )));
        }
        for rule in &self.rules {
            if !crate::Scope::is_valid(&rule.scope) {
                return Err(ProxyConfigError(
                    "`rules[].scope` must be a non-empty scope without spaces".into(),
                ));
            }
            rule.compile()
                .map_err(|e| ProxyConfigError(format!("`rules`: {e}")))?;
            if rule.allow.is_empty() {
                return Err(ProxyConfigError(format!(
                    "the rule of `{}` allows nothing (`allow` is empty)",
                    rule.scope
                )));
            }
            if let Some(host) = rule.hosts.iter().find(|h| self.allowed_host(h).is_none()) {
                return Err(ProxyConfigError(format!(
                    "the rule of `{}` names host `{host}`, which is not in `allowed_hosts`",
                    rule.scope
                )));
            }
        }
        Ok(())
    }

    /// The entry of `allowed_hosts` equal to `wanted` (ASCII case-insensitive).
    pub fn allowed_host(&self, wanted: &str) -> Option<&str> {
        self.allowed_hosts
            .iter()
            .find(|h| h.eq_ignore_ascii_case(wanted))
            .map(String::as_str)
    }
}

/// `host` or `host:port`: DNS labels (letters, digits, `-`, `.`) or a bracketed IPv6 literal,
/// and a decimal port 1..=65535.
pub fn is_host_port(value: &str) -> bool {
    let (host, port) = match value.rsplit_once(':') {
        Some((h, _)) if !h.ends_with(']') && h.contains(':') => (value, None),
        Some((h, p)) => (h, Some(p)),
        None => (value, None),
    };
    let port_ok = port.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| (1..=65535).contains(&n))
    });
    let host_ok = if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_hexdigit() || b == b':')
    } else {
        !host.is_empty()
            && host.len() <= 253
            && host
                .split('.')
                .all(|l| !l.is_empty() && l.len() <= 63 && !l.starts_with('-') && !l.ends_with('-'))
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    };
    host_ok && port_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::{parse_duration_ms, parse_size};
    use serde_json::json;

    #[test]
    fn sizes_and_durations_parse_in_both_forms() {
        let c: ProxyConfig = serde_json::from_value(json!({
            "allowed_hosts": ["uploads.crm.example", "127.0.0.1:8080"],
            "max_buffered_body": "8MiB", "replay_buffer": 65536, "timeout": "30s"
        }))
        .unwrap();
        assert_eq!(c.max_buffered_body, Some(8 << 20));
        assert_eq!(c.replay_buffer, Some(65536));
        assert_eq!(c.timeout_ms, Some(30_000));
        assert!(c.check(Some("https://api.crm.example")).is_ok());
        assert_eq!(parse_duration_ms("500ms"), Some(500));
        assert_eq!(parse_duration_ms("2h"), Some(7_200_000));
        assert_eq!(parse_duration_ms("3d"), Some(259_200_000));
        assert_eq!(parse_duration_ms("d"), None);
        assert_eq!(parse_size("1GiB"), Some(1 << 30));
        assert_eq!(parse_size("1GB"), None);
        let back: ProxyConfig = serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn bad_settings_are_refused_with_the_rule() {
        let parse = |v| serde_json::from_value::<ProxyConfig>(v);
        assert!(parse(json!({"allowed_host": []})).is_err(), "unknown field");
        assert!(parse(json!({"max_body": "ten"})).is_err());
        for host in [
            "https://x.example",
            "x.example/path",
            "*.example",
            "user@x.example",
            "x.example:0",
            "x.example:99999",
            "",
        ] {
            let c = ProxyConfig {
                allowed_hosts: vec![host.into()],
                ..Default::default()
            };
            assert!(c.check(Some("https://a")).is_err(), "{host}");
        }
        let on = ProxyConfig {
            enabled: Some(true),
            ..Default::default()
        };
        assert!(on.check(None).is_err());
        let zero = ProxyConfig {
            max_body: Some(0),
            ..Default::default()
        };
        assert!(zero.check(Some("https://a")).is_err());
        assert!(is_host_port("[::1]:8080"));
        assert!(ProxyConfig::is_enabled(None, Some("https://a")));
        assert!(!ProxyConfig::is_enabled(None, None));
    }

    #[test]
    fn rules_are_checked_when_the_settings_are_read() {
        let base = Some("https://api.crm.example");
        let read = |v| serde_json::from_value::<ProxyConfig>(v);
        let ok = read(json!({"allowed_hosts": ["uploads.crm.example"], "rules": [
            {"scope": "crm:contacts:read", "allow": ["GET /contacts/**"]},
            {"scope": "crm:upload", "allow": ["PUT /files/*"], "hosts": ["uploads.crm.example"]}
        ]}))
        .unwrap();
        assert!(ok.check(base).is_ok());
        for (rules, words) in [
            (
                json!([{"scope": "s", "allow": ["GET /v*"]}]),
                "whole segments",
            ),
            (json!([{"scope": "s", "allow": []}]), "allows nothing"),
            (json!([{"scope": "a b", "allow": ["GET /"]}]), "scope"),
            (
                json!([{"scope": "s", "allow": ["GET /"], "hosts": ["other.example"]}]),
                "not in `allowed_hosts`",
            ),
        ] {
            let config = read(json!({"rules": rules})).unwrap();
            let err = config.check(base).unwrap_err();
            assert!(err.to_string().contains(words), "{err}");
        }
    }

    #[test]
    fn throttle_retries_are_bounded_and_refused_by_field_name() {
        let base = Some("https://api.crm.example");
        let read = |v| serde_json::from_value::<ProxyConfig>(json!({"retry_on_throttle": v}));
        let ok = read(json!({"max_attempts": 2, "max_delay": "1500ms"})).unwrap();
        assert!(ok.check(base).is_ok());
        let retry = ok.retry_on_throttle.clone().unwrap();
        assert_eq!((retry.max_attempts, retry.max_delay_ms), (2, 1500));
        let back: ProxyConfig = serde_json::from_value(serde_json::to_value(&ok).unwrap()).unwrap();
        assert_eq!(back, ok);
        let defaults = read(json!({})).unwrap().retry_on_throttle.unwrap();
        assert_eq!((defaults.max_attempts, defaults.max_delay_ms), (1, 2000));
        for (value, field) in [
            (json!({"max_attempts": 3}), "retry_on_throttle.max_attempts"),
            (json!({"max_attempts": 0}), "retry_on_throttle.max_attempts"),
            (json!({"max_delay": "-1s"}), "retry_on_throttle.max_delay"),
            (json!({"max_delay": -2}), "retry_on_throttle.max_delay"),
            (json!({"max_delay": "31s"}), "retry_on_throttle.max_delay"),
            (json!({"max_delay": "1h"}), "retry_on_throttle.max_delay"),
        ] {
            let err = read(value.clone()).unwrap().check(base).unwrap_err();
            assert!(err.to_string().contains(field), "{value}: {err}");
        }
        assert!(read(json!({"max_delay": "soon"})).is_err());
        assert!(read(json!({"attempts": 1})).is_err(), "unknown field");
    }
}
