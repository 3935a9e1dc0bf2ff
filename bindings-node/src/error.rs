//! How a core error reaches JavaScript.
//!
//! napi's async rejections carry only a status and a string, so the error's structure travels in
//! the string: `nexus:` followed by a JSON object (`kind`, `code`, `message`, and `status`,
//! `requestId`, `reauthUrl`, `retryAfterMs`, `connectionStatus`, and for `connection_required`
//! `provider`, `reason`, `connectUrl`, `elicitationId`, when known). `src/errors.ts`
//! (`fromNative`) is the only reader. The core's messages never contain a secret.

use napi_derive::napi;
use nexus_sdk::NexusError;
use serde_json::{Map, Value, json};

/// The prefix `src/errors.ts` looks for.
const PREFIX: &str = "nexus:";

/// Encode a core error as a napi error.
pub fn to_napi(error: NexusError) -> napi::Error {
    napi::Error::from_reason(format!("{PREFIX}{}", payload(&error)))
}

fn payload(error: &NexusError) -> Value {
    let mut fields = Map::new();
    fields.insert("kind".into(), json!(error.kind().as_str()));
    fields.insert("code".into(), json!(error.code()));
    fields.insert("message".into(), json!(message(error)));
    if let Some(status) = error.status() {
        fields.insert("status".into(), json!(status));
    }
    if let Some(id) = error.request_id() {
        fields.insert("requestId".into(), json!(id));
    }
    if let Some(url) = error.reauth_url() {
        fields.insert("reauthUrl".into(), json!(url));
    }
    if let Some(wait) = error.retry_after() {
        fields.insert(
            "retryAfterMs".into(),
            json!(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX)),
        );
    }
    if let NexusError::ConnectionFailed { status, .. } = error {
        fields.insert("connectionStatus".into(), json!(status));
    }
    if let Some(required) = error.connection_required() {
        fields.insert("provider".into(), json!(required.provider));
        fields.insert("reason".into(), json!(required.reason));
        fields.insert("connectUrl".into(), json!(required.connect_url));
        fields.insert("elicitationId".into(), json!(required.elicitation_id));
    }
    Value::Object(fields)
}

/// The message a JavaScript user reads: the gateway's own message for protocol errors (the
/// code and status are separate fields), the core's description otherwise.
fn message(error: &NexusError) -> String {
    error.message()
}

/// One row of the core's error table (`nexus_sdk::error::ERROR_TABLE`).
#[napi(object)]
pub struct NativeErrorClass {
    pub code: String,
    pub kind: String,
    pub class: String,
    pub parent: String,
}

/// The core's error table, code → kind → class (and its parent class): `test/errors.test.mjs`
/// checks `ERROR_TABLE` in `src/errors.ts` against it.
#[napi]
pub fn error_table() -> Vec<NativeErrorClass> {
    nexus_sdk::error::ERROR_TABLE
        .iter()
        .map(|row| NativeErrorClass {
            code: row.code.to_owned(),
            kind: row.kind.as_str().to_owned(),
            class: row.class.to_owned(),
            parent: row.parent.to_owned(),
        })
        .collect()
}

/// An invalid argument detected here, before the core is called.
pub fn invalid_argument(message: impl Into<String>) -> napi::Error {
    to_napi(NexusError::InvalidRequest(message.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexus_protocol::{ErrorBody, ErrorCode};

    fn decode(error: &napi::Error) -> Value {
        let text = error.reason.strip_prefix(PREFIX).unwrap_or_default();
        serde_json::from_str(text).unwrap_or(Value::Null)
    }

    #[test]
    fn protocol_errors_keep_code_status_and_reauth_url() {
        let body = ErrorBody {
            reauth_url: Some("https://nexus/reauth/c1".into()),
            request_id: Some("req-1".into()),
            ..ErrorBody::new(ErrorCode::ReauthRequired, "authorize again")
        };
        let decoded = decode(&to_napi(NexusError::from_envelope(409, body, None)));
        assert_eq!(decoded["kind"], "api");
        assert_eq!(decoded["code"], "reauth_required");
        assert_eq!(decoded["status"], 409);
        assert_eq!(decoded["message"], "authorize again");
        assert_eq!(decoded["reauthUrl"], "https://nexus/reauth/c1");
        assert_eq!(decoded["requestId"], "req-1");
    }

    #[test]
    fn sdk_errors_have_their_stable_code_and_no_status() {
        let decoded = decode(&to_napi(NexusError::MissingCredentialField {
            strategy: "oauth2".into(),
            field: "access_token".into(),
        }));
        assert_eq!(decoded["kind"], "strategy");
        assert_eq!(decoded["code"], "missing_credential_field");
        assert!(decoded.get("status").is_none());
    }

    #[test]
    fn connection_failures_carry_the_connection_status() {
        let decoded = decode(&to_napi(NexusError::ConnectionFailed {
            status: "needs_reauth".into(),
            reauth_url: None,
        }));
        assert_eq!(decoded["code"], "connection_failed");
        assert_eq!(decoded["connectionStatus"], "needs_reauth");
    }
}
