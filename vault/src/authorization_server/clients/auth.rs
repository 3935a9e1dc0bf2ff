//! Client authentication at the token and revocation endpoints: public clients (`none`) name
//! themselves; confidential ones prove their secret (`client_secret_basic` or
//! `client_secret_post`), compared as SHA-256 digests in constant time.

use crate::authorization_server::{AuthorizationError, AuthorizationServerService};
use crate::store::oauth_clients::ClientRow;
use crate::store::pending::state_hash as sha256_hex;
use nexus_protocol::SecretString;
use subtle::ConstantTimeEq;

/// What the request presented to identify its client.
#[derive(Default)]
pub struct PresentedClient {
    /// From `Authorization: Basic` (already percent-decoded per RFC 6749 §2.3.1).
    pub basic: Option<(String, SecretString)>,
    /// The `client_id` form parameter.
    pub client_id: Option<String>,
    /// The `client_secret` form parameter.
    pub client_secret: Option<SecretString>,
}

impl AuthorizationServerService {
    /// The authenticated client, or `invalid_client`.
    pub async fn authenticate_client(
        &self,
        presented: &PresentedClient,
    ) -> Result<ClientRow, AuthorizationError> {
        let client_id = match (&presented.basic, &presented.client_id) {
            (Some((a, _)), Some(b)) if a != b => {
                return Err(AuthorizationError::invalid_request(
                    "client_id differs between the Authorization header and the body",
                ));
            }
            (Some((a, _)), _) => a.clone(),
            (None, Some(b)) => b.clone(),
            (None, None) => return Err(AuthorizationError::invalid_client("client_id is missing")),
        };
        if presented.basic.is_some() && presented.client_secret.is_some() {
            return Err(AuthorizationError::invalid_request(
                "use one client authentication method",
            ));
        }
        let client = self
            .resolve_client(&client_id)
            .await
            .map_err(|_| AuthorizationError::invalid_client("unknown client"))?;
        let secret = presented
            .basic
            .as_ref()
            .map(|(_, s)| s)
            .or(presented.client_secret.as_ref());
        let method_used = match (&presented.basic, &presented.client_secret) {
            (Some(_), _) => "client_secret_basic",
            (None, Some(_)) => "client_secret_post",
            (None, None) => "none",
        };
        if method_used != client.token_endpoint_auth_method {
            return Err(AuthorizationError::invalid_client(
                "client authentication failed",
            ));
        }
        if let (Some(secret), Some(stored)) = (secret, &client.client_secret_hash) {
            let presented = sha256_hex(secret.expose());
            if !bool::from(presented.as_bytes().ct_eq(stored.as_bytes())) {
                return Err(AuthorizationError::invalid_client(
                    "client authentication failed",
                ));
            }
        } else if method_used != "none" {
            return Err(AuthorizationError::invalid_client(
                "client authentication failed",
            ));
        }
        Ok(client)
    }
}
