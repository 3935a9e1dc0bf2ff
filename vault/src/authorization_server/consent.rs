//! The consent step of `/as/authorize`: the form the user is shown and its answer.

use super::authorize::{ConsentView, Step, page};
use super::{AuthorizationError, AuthorizationServerService, random_secret};
use crate::store::as_sessions::AuthorizationRequestRow;
use nexus_protocol::SecretString;
use nexus_protocol::oauth::OAuthErrorCode;

impl AuthorizationServerService {
    pub(super) async fn consent_view(
        &self,
        request_id: &str,
        request: &AuthorizationRequestRow,
    ) -> Result<ConsentView, AuthorizationError> {
        let client = self
            .store
            .oauth_client(&request.client_id)
            .await?
            .ok_or_else(|| AuthorizationError::invalid_client("the client is gone"))?;
        let resource = self
            .store
            .mcp_resource(&request.resource_id)
            .await?
            .ok_or_else(|| AuthorizationError::new(OAuthErrorCode::InvalidTarget, "gone"))?;
        let csrf = random_secret();
        self.store
            .set_request_csrf(request_id, csrf.expose())
            .await?;
        let host = |u: &str| {
            url::Url::parse(u)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default()
        };
        Ok(ConsentView {
            request_id: SecretString::new(request_id.to_owned()),
            csrf,
            client_name: super::clients::client_name(&client)
                .unwrap_or_else(|| request.client_id.clone()),
            client_host: host(&request.client_id),
            redirect_origin: super::redirect_uri::origin(&request.redirect_uri).unwrap_or_default(),
            resource_name: resource.name,
            resource_uri: resource.resource_uri,
            scopes: request.scopes.clone(),
            loopback_only: client
                .redirect_uris
                .iter()
                .all(|u| super::redirect_uri::is_loopback(u)),
        })
    }

    /// The consent form's answer. `csrf` must be the one rendered for this request (single
    /// use); the broker has already checked the `Origin`.
    pub async fn decide(
        &self,
        request_id: &str,
        csrf: &str,
        allow: bool,
        cookie: Option<&str>,
    ) -> Step {
        match self.store.take_request_csrf(request_id, csrf).await {
            Ok(true) => {}
            Ok(false) => {
                return page(
                    403,
                    "This form has expired or was not issued by Nexus. Start again from your application.",
                );
            }
            Err(e) => return page(500, AuthorizationError::from(e).description),
        }
        let request = match self.store.authorization_request(request_id).await {
            Ok(Some(r)) => r,
            _ => return page(400, "This authorization request has expired."),
        };
        let Some(session) = self.session_for(cookie, &request.workspace_id).await else {
            return page(
                403,
                "You are not logged in. Start again from your application.",
            );
        };
        if !allow {
            return self
                .finish_with_error(
                    request_id,
                    &request,
                    OAuthErrorCode::AccessDenied,
                    "the user denied the request",
                )
                .await;
        }
        if let Err(e) = self
            .store
            .put_consent(
                &request.workspace_id,
                &session.user_id,
                &request.client_id,
                &request.resource_id,
                &request.scopes,
            )
            .await
        {
            return page(500, AuthorizationError::from(e).description);
        }
        self.issue_code(request_id, &request, &session).await
    }
}
