//! The error envelope: `{"error": "<code>", "code": "<code>", "message": "…", "request_id": "…"}`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Declares [`ErrorCode`] and its wire strings from one list: the enum, [`ErrorCode::KNOWN`],
/// [`ErrorCode::as_str`] and [`ErrorCode::parse`] cannot disagree, and a new code is one line.
macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident => $wire:literal,)*) => {
        /// The closed set of error codes of protocol v1, plus [`ErrorCode::Other`] so that a client
        /// keeps working when a newer server sends a code it does not know.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
            /// Any code this version does not know.
            Other(String),
        }

        impl ErrorCode {
            /// Every code of protocol v1, as sent on the wire (the core's error table is checked
            /// against this list in both directions).
            pub const KNOWN: &'static [&'static str] = &[$($wire),*];

            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $wire,)*
                    Self::Other(code) => code,
                }
            }

            pub fn parse(code: &str) -> Self {
                match code {
                    $($wire => Self::$variant,)*
                    other => Self::Other(other.to_owned()),
                }
            }
        }
    };
}

error_codes! {
    /// 400: a parameter is missing, repeated or malformed.
    InvalidRequest => "invalid_request",
    /// 401: no caller credential, or one that is unknown, revoked or expired.
    Unauthorized => "unauthorized",
    /// 403: the caller is known but may not do this (e.g. another workspace).
    Forbidden => "forbidden",
    /// 404: no such route or resource.
    NotFound => "not_found",
    /// 404: the workspace has no connection for this provider / connection id.
    ConnectionNotFound => "connection_not_found",
    /// 404: no provider of that name.
    ProviderNotFound => "provider_not_found",
    /// 409: the connection must be authorized again by a person (`reauth_url` when known).
    ReauthRequired => "reauth_required",
    /// 409: the connection exists but is not usable yet (`pending`).
    ConnectionNotActive => "connection_not_active",
    /// 413: the request body or headers are too large.
    PayloadTooLarge => "payload_too_large",
    /// 408: the request body stopped arriving before the server's body timeout.
    RequestTimeout => "request_timeout",
    /// 429: slow down; the response carries `Retry-After`.
    RateLimited => "rate_limited",
    /// 502/503: the upstream provider (or the broker) could not be reached or failed.
    UpstreamUnavailable => "upstream_unavailable",
    /// 403: a session asked for a scope its agent did not declare.
    ScopeNotAllowed => "scope_not_allowed",
    /// 403: an On-Behalf-Of user lacks the scope.
    UserNotAuthorizedForScope => "user_not_authorized_for_scope",
    /// 401: the user token given for On-Behalf-Of is invalid, expired or untrusted.
    InvalidSubjectToken => "invalid_subject_token",
    /// 500: a server fault. Never used for a client mistake.
    InternalError => "internal_error",
    // Proxy mode (issue 16).
    /// 403: the agent session holds no scope whose proxy rule allows this method and path.
    InsufficientScope => "insufficient_scope",
    /// 400: the proxied path was refused by the normaliser (traversal, bad encoding).
    InvalidProxyPath => "invalid_proxy_path",
    /// 400: `Nexus-Proxy-Host` names a host the provider's `proxy.allowed_hosts` does not list.
    ProxyHostNotAllowed => "proxy_host_not_allowed",
    /// 404: the provider has no `api_base_url`, or its proxy is disabled.
    ProxyNotEnabled => "proxy_not_enabled",
    /// 504: the upstream sent no response headers within the provider's proxy timeout.
    UpstreamTimeout => "upstream_timeout",
    // MCP authorization (issue 17).
    /// 409: the MCP user has no usable connection for the provider yet; a person must connect it
    /// at `connect_url` (bound to that user). Carries `provider`, `reason`, `connect_url` and
    /// `elicitation_id`.
    ConnectionRequired => "connection_required",
}

impl ErrorCode {
    /// The HTTP status a server sends with this code.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::InvalidRequest | Self::InvalidProxyPath | Self::ProxyHostNotAllowed => 400,
            Self::Unauthorized | Self::InvalidSubjectToken => 401,
            Self::Forbidden
            | Self::ScopeNotAllowed
            | Self::UserNotAuthorizedForScope
            | Self::InsufficientScope => 403,
            Self::NotFound
            | Self::ConnectionNotFound
            | Self::ProviderNotFound
            | Self::ProxyNotEnabled => 404,
            Self::ReauthRequired | Self::ConnectionNotActive | Self::ConnectionRequired => 409,
            Self::RequestTimeout => 408,
            Self::PayloadTooLarge => 413,
            Self::RateLimited => 429,
            Self::UpstreamUnavailable => 502,
            Self::UpstreamTimeout => 504,
            Self::InternalError | Self::Other(_) => 500,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = String::deserialize(d)?;
        Ok(Self::parse(&code))
    }
}

/// The body of every non-2xx response from the gateway and the broker.
///
/// On the wire the code is sent twice, as `error` and as `code` (the same value): the original
/// Nexus Go SDK reads `code`, every other client reads `error`. Either name is accepted when
/// reading, so an answer from a server that sends only one of them still parses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "Envelope", try_from = "Envelope")]
pub struct ErrorBody {
    pub error: ErrorCode,
    /// Human-readable, safe to show; never contains a secret.
    pub message: String,
    pub request_id: Option<String>,
    /// With `reauth_required`: where a person can authorize the connection again.
    pub reauth_url: Option<String>,
    /// With `rate_limited`: seconds to wait (mirrors the `Retry-After` header).
    pub retry_after: Option<u64>,
    /// With `connection_required`: the connect link, bound to the MCP user it was made for.
    pub connect_url: Option<String>,
    /// With `connection_required`: the id of the URL-mode elicitation (stable per connect link).
    pub elicitation_id: Option<String>,
    /// With `connection_required`: the provider to connect.
    pub provider: Option<String>,
    /// With `connection_required`: why a person is needed.
    pub reason: Option<ConnectionRequiredReason>,
}

/// Why `connection_required` was answered. A reason this version does not know is kept as
/// [`ConnectionRequiredReason::Other`], so a newer server's answer still parses.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ConnectionRequiredReason {
    /// The user has no connection for the provider.
    Missing,
    /// The user's connection exists but must be authorized again.
    ReauthRequired,
    /// Any reason this version does not know.
    Other(String),
}

impl ConnectionRequiredReason {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Missing => "missing",
            Self::ReauthRequired => "reauth_required",
            Self::Other(reason) => reason,
        }
    }

    pub fn parse(reason: &str) -> Self {
        match reason {
            "missing" => Self::Missing,
            "reauth_required" => Self::ReauthRequired,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl Serialize for ConnectionRequiredReason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ConnectionRequiredReason {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let reason = String::deserialize(d)?;
        Ok(Self::parse(&reason))
    }
}

/// [`ErrorBody`] as it is written and read: the code under both of its names.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
struct Envelope {
    /// The error code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, required = true, example = "provider_not_found"))]
    error: Option<ErrorCode>,
    /// The same value as `error` (the name older Nexus clients read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, required = true, example = "provider_not_found"))]
    code: Option<ErrorCode>,
    /// Human-readable, safe to show; never contains a secret.
    message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
    /// With `reauth_required`: where a person can authorize the connection again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reauth_url: Option<String>,
    /// With `rate_limited`: seconds to wait (mirrors the `Retry-After` header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retry_after: Option<u64>,
    /// With `connection_required`: the connect link, bound to the MCP user it was made for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    connect_url: Option<String>,
    /// With `connection_required`: the id of the URL-mode elicitation (stable per connect link).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    elicitation_id: Option<String>,
    /// With `connection_required`: the provider to connect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    provider: Option<String>,
    /// With `connection_required`: `missing` or `reauth_required`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "missing"))]
    reason: Option<ConnectionRequiredReason>,
}

impl From<ErrorBody> for Envelope {
    fn from(body: ErrorBody) -> Self {
        Self {
            code: Some(body.error.clone()),
            error: Some(body.error),
            message: body.message,
            request_id: body.request_id,
            reauth_url: body.reauth_url,
            retry_after: body.retry_after,
            connect_url: body.connect_url,
            elicitation_id: body.elicitation_id,
            provider: body.provider,
            reason: body.reason,
        }
    }
}

impl TryFrom<Envelope> for ErrorBody {
    type Error = &'static str;

    fn try_from(envelope: Envelope) -> Result<Self, Self::Error> {
        // `error` wins when a server sent both and they differ: it is this protocol's name.
        let error = envelope
            .error
            .or(envelope.code)
            .ok_or("missing field `error`")?;
        Ok(Self {
            error,
            message: envelope.message,
            request_id: envelope.request_id,
            reauth_url: envelope.reauth_url,
            retry_after: envelope.retry_after,
            connect_url: envelope.connect_url,
            elicitation_id: envelope.elicitation_id,
            provider: envelope.provider,
            reason: envelope.reason,
        })
    }
}

// The document describes what is on the wire (the envelope), under the name `ErrorBody`.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for ErrorBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <Envelope as utoipa::PartialSchema>::schema()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for ErrorBody {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("ErrorBody")
    }
}

impl ErrorBody {
    pub fn new(error: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error,
            message: message.into(),
            request_id: None,
            reauth_url: None,
            retry_after: None,
            connect_url: None,
            elicitation_id: None,
            provider: None,
            reason: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for &code in ErrorCode::KNOWN {
            let parsed = ErrorCode::parse(code);
            assert!(
                !matches!(parsed, ErrorCode::Other(_)),
                "{code} should be known"
            );
            assert_eq!(parsed.as_str(), code);
        }
        assert_eq!(
            ErrorCode::parse("brand_new"),
            ErrorCode::Other("brand_new".into())
        );
    }

    #[test]
    fn envelope_sends_the_code_under_both_names_and_omits_empty_fields() {
        let body = ErrorBody::new(ErrorCode::Unauthorized, "missing API key");
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"error": "unauthorized", "code": "unauthorized",
                               "message": "missing API key"})
        );
    }

    #[test]
    fn envelope_is_read_with_either_name_of_the_code() {
        for body in [
            serde_json::json!({"error": "reauth_required", "message": "m"}),
            serde_json::json!({"code": "reauth_required", "message": "m"}),
            serde_json::json!({"error": "reauth_required", "code": "reauth_required", "message": "m"}),
            serde_json::json!({"error": "reauth_required", "code": "other", "message": "m"}),
        ] {
            let parsed: ErrorBody = serde_json::from_value(body.clone()).unwrap();
            assert_eq!(parsed.error, ErrorCode::ReauthRequired, "{body}");
        }
        let without_code = serde_json::json!({"message": "m"});
        assert!(serde_json::from_value::<ErrorBody>(without_code).is_err());
    }

    #[test]
    fn connection_required_carries_its_link_and_round_trips() {
        assert_eq!(ErrorCode::ConnectionRequired.http_status(), 409);
        let body = ErrorBody {
            connect_url: Some("https://nexus.example/as/connect/t1".into()),
            elicitation_id: Some("e1".into()),
            provider: Some("github".into()),
            reason: Some(ConnectionRequiredReason::ReauthRequired),
            ..ErrorBody::new(ErrorCode::ConnectionRequired, "connect github")
        };
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"error": "connection_required", "code": "connection_required",
                               "message": "connect github",
                               "connect_url": "https://nexus.example/as/connect/t1",
                               "elicitation_id": "e1", "provider": "github",
                               "reason": "reauth_required"})
        );
        assert_eq!(serde_json::from_value::<ErrorBody>(json).unwrap(), body);
        // A v1 body without the new fields still parses, and they stay absent.
        let old: ErrorBody =
            serde_json::from_value(serde_json::json!({"error": "forbidden", "message": "m"}))
                .unwrap();
        assert_eq!(old.connect_url, None);
        assert_eq!(old.reason, None);
        let newer: ErrorBody = serde_json::from_value(serde_json::json!(
            {"error": "connection_required", "message": "m", "reason": "brand_new"}))
        .unwrap();
        assert_eq!(
            newer.reason,
            Some(ConnectionRequiredReason::Other("brand_new".into()))
        );
    }
}
