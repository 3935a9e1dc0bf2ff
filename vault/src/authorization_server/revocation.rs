//! RFC 7009 revocation. A refresh token revokes its family; an access token (ours, same
//! client) revokes the family named by its `sid`. Unknown, foreign or malformed tokens are
//! answered like success: the endpoint tells nobody which tokens exist.

use super::clients::auth::PresentedClient;
use super::grants::Form;
use super::{AuthorizationError, AuthorizationServerService};

impl AuthorizationServerService {
    pub async fn revoke(
        &self,
        pairs: &[(String, String)],
        mut presented: PresentedClient,
    ) -> Result<(), AuthorizationError> {
        let form = Form::parse(pairs)?;
        presented.client_id = form.get("client_id").map(str::to_owned);
        presented.client_secret = form.get("client_secret").map(|s| s.to_owned().into());
        let token = form.require("token")?;
        let client = self.authenticate_client(&presented).await?;
        let family_id = match self.store.family_of_refresh_token(token).await? {
            Some(f) => Some(f),
            None => self
                .decode_access_token(token)
                .await
                .filter(|c| c.client_id == client.client_id)
                .and_then(|c| c.sid),
        };
        let Some(family_id) = family_id else {
            return Ok(());
        };
        if let Some(family) = self.store.token_family(&family_id).await?
            && family.client_id == client.client_id
        {
            self.store
                .revoke_token_family(&family_id, "revoked")
                .await?;
        }
        Ok(())
    }
}
