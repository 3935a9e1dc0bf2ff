//! Endpoints the original Nexus gateway served that Nexus keeps so that clients written for it
//! work unchanged (issue 15; design/design-15-endpoints.md): provider metadata, the
//! static-credential capture pair, connection revocation and the OAuth callback alias. The
//! gateway serves them; the internal paths are how it asks the broker.

use crate::SecretString;
use crate::internal::Principal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// `GET`: [`ProvidersMetadata`] (API key or session).
pub const PROVIDERS: &str = "/v1/providers";
/// `GET`: the same answer as [`PROVIDERS`] (the original documented this path).
pub const PROVIDERS_METADATA: &str = "/v1/providers/metadata";
/// Provider administration by id: refused with 403 (it is an operator's job, through the
/// broker's admin API).
pub const PROVIDER: &str = "/v1/providers/{id}";
/// `GET ?state=…`: [`CaptureSchemaResponse`]; the one-time state is the only credential.
pub const CAPTURE_SCHEMA: &str = "/v1/capture-schema";
/// `POST` [`CaptureCredentialRequest`] → [`CaptureCredentialResponse`]; the state is the
/// only credential.
pub const CAPTURE_CREDENTIAL: &str = "/v1/capture-credential";
/// `DELETE ?workspace_id=&reason=` → [`RevokeConnectionResponse`].
pub const CONNECTION: &str = "/v1/connections/{id}";
/// The original gateway's OAuth redirect target, relayed to the broker's `/oauth/callback`
/// when the gateway is configured to.
pub const AUTH_CALLBACK: &str = "/auth/callback";

/// Internal: `GET` → [`ProvidersMetadata`] (internal token).
pub const INTERNAL_PROVIDERS_METADATA: &str = "/internal/v1/providers/metadata";
/// Internal: `POST` [`CaptureSchemaRequest`] → [`CaptureSchemaResponse`] (the state in a body,
/// not a URL, between gateway and broker).
pub const INTERNAL_CAPTURE_SCHEMA: &str = "/internal/v1/capture-schema";
/// Internal: `POST` [`CaptureCredentialRequest`] → [`CaptureCredentialResponse`].
pub const INTERNAL_CAPTURE_CREDENTIAL: &str = "/internal/v1/capture-credential";
/// Internal: `POST {CONNECTIONS_PREFIX}/{ws}/connections/{id}/revoke`
/// [`InternalRevokeConnection`] → [`RevokeConnectionResponse`].
pub const INTERNAL_REVOKE_SUFFIX: &str = "/revoke";

/// What a client may know of one provider: where its API is and which scopes it asks for.
/// Never a client id, secret or endpoint the broker uses on its own behalf.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProviderMetadata {
    /// The API's base URL (`""` when the provider declares none).
    pub api_base_url: String,
    /// The OpenID userinfo endpoint (`""` when unknown).
    pub user_info_endpoint: String,
    pub scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
}

/// `auth_type` (`oauth2`, `api_key`, …) → provider name → [`ProviderMetadata`].
pub type ProvidersMetadata = BTreeMap<String, BTreeMap<String, ProviderMetadata>>;

/// Body of the internal capture-schema call.
#[derive(Clone, Serialize, Deserialize)]
pub struct CaptureSchemaRequest {
    pub state: SecretString,
}

/// 200 body of `GET /v1/capture-schema`: the credential fields to ask a person for, as a JSON
/// Schema object (`{"type":"object","required":[…],"properties":{name:{"type":"string"}}}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CaptureSchemaResponse {
    pub provider_name: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub schema: serde_json::Value,
}

impl CaptureSchemaResponse {
    /// The schema of `fields`, every one a required string.
    pub fn for_fields(provider_name: String, fields: &[String]) -> Self {
        let properties: serde_json::Map<String, serde_json::Value> = fields
            .iter()
            .map(|f| (f.clone(), serde_json::json!({"type": "string"})))
            .collect();
        Self {
            provider_name,
            schema: serde_json::json!({
                "type": "object",
                "required": fields,
                "properties": properties,
            }),
        }
    }
}

/// Body of `POST /v1/capture-credential`. `Debug` shows field names only.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CaptureCredentialRequest {
    /// The one-time state of the connect flow (from `request-connection`).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub state: SecretString,
    /// Field name → value, as the capture schema lists them.
    #[cfg_attr(feature = "openapi", schema(value_type = HashMap<String, String>))]
    pub credentials: HashMap<String, SecretString>,
}

impl std::fmt::Debug for CaptureCredentialRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.credentials.keys().collect();
        names.sort();
        f.debug_struct("CaptureCredentialRequest")
            .field("state", &"[redacted]")
            .field("credentials", &names)
            .finish()
    }
}

/// 200 body of `POST /v1/capture-credential`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CaptureCredentialResponse {
    pub connection_id: String,
    /// `success`.
    pub status: String,
    /// The flow's `return_url` with `status` and `connection_id` added (null without one).
    pub redirect_url: Option<String>,
}

/// Body of the internal revoke call: who asked, and why.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InternalRevokeConnection {
    pub principal: Principal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// 200 body of `DELETE /v1/connections/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevokeConnectionResponse {
    pub connection_id: String,
    /// `revoked`.
    pub status: String,
    /// The stored token or credentials were deleted (false when there were none).
    pub token_deleted: bool,
    /// The provider accepted an RFC 7009 revocation (false when it has no revocation endpoint).
    pub provider_revoked: bool,
    /// Always 0 here: Nexus keeps no per-connection sessions (the original closed its bridge's).
    pub sessions_closed: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_request_debug_names_fields_never_values() {
        let body: CaptureCredentialRequest = serde_json::from_value(serde_json::json!({
            "state": "state-secret", "credentials": {"api_key": "key-secret"}
        }))
        .unwrap();
        let printed = format!("{body:?}");
        assert!(printed.contains("api_key"), "{printed}");
        assert!(!printed.contains("key-secret") && !printed.contains("state-secret"));
    }

    #[test]
    fn capture_schema_lists_every_field_as_a_required_string() {
        let answer = CaptureSchemaResponse::for_fields("stripe".into(), &["api_key".into()]);
        assert_eq!(answer.schema["required"], serde_json::json!(["api_key"]));
        assert_eq!(
            answer.schema["properties"]["api_key"]["type"],
            serde_json::json!("string")
        );
    }
}
