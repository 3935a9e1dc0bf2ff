//! What a Client ID Metadata Document must say (design 17 §2.6, draft -02): a JSON object
//! whose `client_id` is byte-equal to its URL, a `client_name`, valid `redirect_uris`, a public
//! client (`none`; no secrets in a published document), and grant and response types we serve.

use super::cimd_fetch::CimdError;
use crate::authorization_server::redirect_uri;
use nexus_protocol::oauth::{ClientMetadata, GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN};

/// A validated document.
pub struct ValidDocument {
    pub metadata: ClientMetadata,
    pub grant_types: Vec<String>,
}

/// Grant types a client may declare (document or registration).
pub fn grant_types_of(declared: Option<&Vec<String>>) -> Option<Vec<String>> {
    let grants = declared
        .cloned()
        .unwrap_or_else(|| vec![GRANT_AUTHORIZATION_CODE.to_owned()]);
    grants
        .iter()
        .all(|g| g == GRANT_AUTHORIZATION_CODE || g == GRANT_REFRESH_TOKEN)
        .then_some(grants)
}

/// Response types must be `code` only.
pub fn response_types_ok(declared: Option<&Vec<String>>) -> bool {
    declared.is_none_or(|r| r.iter().all(|t| t == "code"))
}

pub fn validate(client_id: &str, body: &[u8]) -> Result<ValidDocument, CimdError> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|_| CimdError::NotJson)?;
    let object = value.as_object().ok_or(CimdError::NotJson)?;
    if object.get("client_id").and_then(|v| v.as_str()) != Some(client_id) {
        return Err(CimdError::ClientIdMismatch);
    }
    if object.contains_key("client_secret") || object.contains_key("client_secret_expires_at") {
        return Err(CimdError::FieldInvalid("client_secret"));
    }
    let metadata: ClientMetadata =
        serde_json::from_value(value.clone()).map_err(|_| CimdError::FieldInvalid("metadata"))?;
    match metadata.client_name.as_deref() {
        Some(name) if !name.trim().is_empty() && name.len() <= 128 => {}
        _ => return Err(CimdError::FieldInvalid("client_name")),
    }
    if metadata.redirect_uris.is_empty()
        || metadata
            .redirect_uris
            .iter()
            .any(|u| redirect_uri::refusal(u).is_some())
    {
        return Err(CimdError::FieldInvalid("redirect_uris"));
    }
    if metadata
        .token_endpoint_auth_method
        .as_deref()
        .is_some_and(|m| m != "none")
    {
        return Err(CimdError::FieldInvalid("token_endpoint_auth_method"));
    }
    let grant_types = grant_types_of(metadata.grant_types.as_ref())
        .ok_or(CimdError::FieldInvalid("grant_types"))?;
    if !response_types_ok(metadata.response_types.as_ref()) {
        return Err(CimdError::FieldInvalid("response_types"));
    }
    Ok(ValidDocument {
        metadata,
        grant_types,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "https://client.example/meta.json";

    fn doc(extra: serde_json::Value) -> Vec<u8> {
        let mut base = serde_json::json!({
            "client_id": ID, "client_name": "Client",
            "redirect_uris": ["http://127.0.0.1:3000/cb"],
        });
        base.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::to_vec(&base).unwrap()
    }

    #[test]
    fn document_rules() {
        assert!(validate(ID, &doc(serde_json::json!({}))).is_ok());
        let cases = [
            (
                serde_json::json!({"client_id": "https://other.example/m"}),
                CimdError::ClientIdMismatch,
            ),
            (
                serde_json::json!({"client_name": null}),
                CimdError::FieldInvalid("client_name"),
            ),
            (
                serde_json::json!({"client_secret": "x"}),
                CimdError::FieldInvalid("client_secret"),
            ),
            (
                serde_json::json!({"redirect_uris": []}),
                CimdError::FieldInvalid("redirect_uris"),
            ),
            (
                serde_json::json!({"redirect_uris": ["http://evil.example/cb"]}),
                CimdError::FieldInvalid("redirect_uris"),
            ),
            (
                serde_json::json!({"token_endpoint_auth_method": "client_secret_basic"}),
                CimdError::FieldInvalid("token_endpoint_auth_method"),
            ),
            (
                serde_json::json!({"grant_types": ["implicit"]}),
                CimdError::FieldInvalid("grant_types"),
            ),
        ];
        for (extra, expected) in cases {
            assert_eq!(
                validate(ID, &doc(extra.clone())).err(),
                Some(expected),
                "{extra}"
            );
        }
        assert_eq!(validate(ID, b"[1]").err(), Some(CimdError::NotJson));
        assert_eq!(validate(ID, b"<html>").err(), Some(CimdError::NotJson));
    }
}
