//! `/as/authorize` (design 17 §2.3): check the client and its redirect URI first (failures are
//! shown, never redirected), then everything else (failures go back to the client with
//! `error`, `state` and `iss`, RFC 9207), store the request, and continue: login, consent,
//! code. The broker renders each [`Step`]; the rules are all here.

use super::delegation::within_agent;
use super::resources::{OFFLINE_ACCESS, normalize};
use super::{AuthorizationError, AuthorizationServerService, random_secret};
use crate::store::as_sessions::{AuthorizationRequestRow, LoginSession};
use crate::store::mcp_resources::ResourceRow;
use crate::store::now_ms;
use crate::store::oauth_clients::ClientRow;
use crate::store::oauth_grants::CodeRow;
use nexus_protocol::SecretString;
use nexus_protocol::oauth::{GRANT_AUTHORIZATION_CODE, OAuthErrorCode};
use std::collections::HashMap;

const REQUEST_LIFETIME_MS: i64 = 10 * 60 * 1000;
const CODE_LIFETIME_MS: i64 = 60 * 1000;
const MAX_STATE_LEN: usize = 512;

/// What the browser is shown next.
#[derive(Debug)]
pub enum Step {
    /// An error page; never a redirect (the client or its redirect URI is not trusted).
    Page { status: u16, message: String },
    /// A redirect: to the client (code or error), or to the login page.
    Redirect(String),
    /// The consent form.
    Consent(ConsentView),
}

/// What the consent page shows (every string is escaped by the renderer).
#[derive(Debug)]
pub struct ConsentView {
    pub request_id: SecretString,
    pub csrf: SecretString,
    pub client_name: String,
    pub client_host: String,
    pub redirect_origin: String,
    pub resource_name: String,
    pub resource_uri: String,
    pub scopes: Vec<String>,
    /// Every redirect URI of the client is loopback: anyone on that machine could be it.
    pub loopback_only: bool,
}

pub(super) fn page(status: u16, message: impl Into<String>) -> Step {
    Step::Page {
        status,
        message: message.into(),
    }
}

/// A request's parameters, each present at most once (RFC 6749 §3.1).
struct Params<'a>(HashMap<&'a str, Vec<&'a str>>);

impl<'a> Params<'a> {
    fn new(pairs: &'a [(String, String)]) -> Self {
        let mut map: HashMap<&str, Vec<&str>> = HashMap::new();
        for (k, v) in pairs {
            map.entry(k.as_str()).or_default().push(v.as_str());
        }
        Self(map)
    }
    /// `Err` when repeated; `Ok(None)` when absent or empty.
    fn one(&self, key: &str) -> Result<Option<&'a str>, ()> {
        match self.0.get(key).map(Vec::as_slice) {
            None => Ok(None),
            Some([v]) => Ok(Some(*v).filter(|v| !v.is_empty())),
            Some(_) => Err(()),
        }
    }
}

/// The scopes a request gets: `offline_access` dropped, empty ⇒ the resource's defaults, and
/// every one must be a scope of the resource.
pub fn requested_scopes(
    scope: Option<&str>,
    resource: &ResourceRow,
) -> Result<Vec<String>, AuthorizationError> {
    let mut scopes: Vec<String> = scope
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty() && *s != OFFLINE_ACCESS)
        .map(str::to_owned)
        .collect();
    scopes.sort();
    scopes.dedup();
    if scopes.is_empty() {
        return Ok(resource.default_scopes.clone());
    }
    if scopes.iter().any(|s| !resource.scopes.contains(s)) {
        return Err(AuthorizationError::new(
            OAuthErrorCode::InvalidScope,
            "a requested scope is not offered by this resource",
        ));
    }
    Ok(scopes)
}

impl AuthorizationServerService {
    /// `GET /as/authorize` with its query pairs and the login cookie, if any.
    pub async fn authorize(&self, pairs: &[(String, String)], cookie: Option<&str>) -> Step {
        let params = Params::new(pairs);
        let (Ok(client_id), Ok(redirect_uri)) =
            (params.one("client_id"), params.one("redirect_uri"))
        else {
            return page(
                400,
                "invalid_request: client_id and redirect_uri may appear once",
            );
        };
        let Some(client_id) = client_id else {
            return page(400, "invalid_request: client_id is missing");
        };
        let client = match self.resolve_client(client_id).await {
            Ok(c) => c,
            Err(e) => return page(400, format!("invalid_client: {}", e.reason)),
        };
        let Some(redirect_uri) = redirect_uri else {
            return page(400, "invalid_request: redirect_uri is missing");
        };
        if !super::redirect_uri::matches(&client.redirect_uris, redirect_uri) {
            return page(
                400,
                "invalid_request: redirect_uri is not one of the client's registered redirect URIs",
            );
        }
        let state = match params.one("state") {
            Ok(s) if s.is_none_or(|s| s.len() <= MAX_STATE_LEN) => s,
            _ => {
                return page(
                    400,
                    "invalid_request: state may appear once, up to 512 bytes",
                );
            }
        };
        let fail =
            |e: AuthorizationError| Step::Redirect(self.error_redirect(redirect_uri, state, &e));
        let checked = self.check_request(&params, &client).await;
        let (resource, scopes, challenge, prompt) = match checked {
            Ok(c) => c,
            Err(e) => return fail(e),
        };
        let request_id = random_secret();
        let row = AuthorizationRequestRow {
            client_id: client.client_id.clone(),
            redirect_uri: redirect_uri.to_owned(),
            state: state.map(str::to_owned),
            code_challenge: challenge,
            resource_id: resource.id.clone(),
            scopes,
            prompt: prompt.clone(),
            workspace_id: resource.workspace_id.clone(),
            expires_at: now_ms() + REQUEST_LIFETIME_MS,
        };
        if let Err(e) = self
            .store
            .insert_authorization_request(request_id.expose(), &row)
            .await
        {
            return fail(e.into());
        }
        let cookie = if prompt.as_deref() == Some("login") {
            None
        } else {
            cookie
        };
        self.continue_request(request_id.expose(), cookie).await
    }

    /// Everything after the client and redirect URI checks. Returns the resource, the scopes
    /// (cut to those of the agent the client acts for, if any), the PKCE challenge and `prompt`.
    async fn check_request(
        &self,
        params: &Params<'_>,
        client: &ClientRow,
    ) -> Result<(ResourceRow, Vec<String>, String, Option<String>), AuthorizationError> {
        let one = |key: &str| {
            params.one(key).map_err(|()| {
                AuthorizationError::invalid_request(format!("{key} may appear only once"))
            })
        };
        if one("response_type")? != Some("code") {
            return Err(AuthorizationError::new(
                OAuthErrorCode::UnsupportedResponseType,
                "response_type must be code",
            ));
        }
        if !client
            .grant_types
            .iter()
            .any(|g| g == GRANT_AUTHORIZATION_CODE)
        {
            return Err(AuthorizationError::new(
                OAuthErrorCode::UnauthorizedClient,
                "the client is not registered for the authorization_code grant",
            ));
        }
        if one("code_challenge_method")? != Some("S256") {
            return Err(AuthorizationError::invalid_request(
                "PKCE is required: code_challenge_method must be S256",
            ));
        }
        let challenge = one("code_challenge")?
            .filter(|c| super::grants::is_pkce_value(c, 43, 43))
            .ok_or_else(|| {
                AuthorizationError::invalid_request(
                    "code_challenge must be the 43-character base64url SHA-256 of the verifier",
                )
            })?;
        let prompt = one("prompt")?;
        if prompt.is_some_and(|p| !matches!(p, "consent" | "login" | "none")) {
            return Err(AuthorizationError::invalid_request(
                "prompt must be consent, login or none",
            ));
        }
        let resource_param = params.one("resource").map_err(|()| {
            AuthorizationError::new(OAuthErrorCode::InvalidTarget, "name exactly one resource")
        })?;
        let resource = self.resource_named(resource_param).await?;
        let scopes = requested_scopes(one("scope")?, &resource)?;
        // Unaudited here: anyone may call this with a public client's id; the token endpoint
        // checks again and records its refusals.
        let delegate = self.delegate(client, &resource.workspace_id, None).await?;
        let scopes = within_agent(delegate.as_ref(), &scopes)?;
        Ok((
            resource,
            scopes,
            challenge.to_owned(),
            prompt.map(str::to_owned),
        ))
    }

    /// The live resource a `resource` parameter names (Rule R), or `invalid_target`.
    pub(crate) async fn resource_named(
        &self,
        resource: Option<&str>,
    ) -> Result<ResourceRow, AuthorizationError> {
        let target = |d: &str| AuthorizationError::new(OAuthErrorCode::InvalidTarget, d);
        let uri = resource.ok_or_else(|| target("the resource parameter is required"))?;
        let uri = normalize(uri).map_err(target)?;
        match self.store.mcp_resource_by_uri(&uri).await? {
            Some(r) if r.disabled_at.is_none() => Ok(r),
            _ => Err(target(
                "the resource is not registered at this authorization server",
            )),
        }
    }

    /// Continue a stored request: login, then stored consent or the consent form.
    pub async fn continue_request(&self, request_id: &str, cookie: Option<&str>) -> Step {
        let request = match self.store.authorization_request(request_id).await {
            Ok(Some(r)) => r,
            Ok(None) => {
                return page(
                    400,
                    "This authorization request has expired or was already answered. Start again from your application.",
                );
            }
            Err(e) => return page(500, AuthorizationError::from(e).description),
        };
        let session = self.session_for(cookie, &request.workspace_id).await;
        let Some(session) = session else {
            if request.prompt.as_deref() == Some("none") {
                return self
                    .finish_with_error(
                        request_id,
                        &request,
                        OAuthErrorCode::LoginRequired,
                        "login is required",
                    )
                    .await;
            }
            return Step::Redirect(format!(
                "{}{}?request={}",
                self.issuer,
                super::login::LOGIN_PATH,
                request_id
            ));
        };
        let granted = self
            .store
            .consent(
                &request.workspace_id,
                &session.user_id,
                &request.client_id,
                &request.resource_id,
            )
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        let covered = request.scopes.iter().all(|s| granted.contains(s)) && !granted.is_empty();
        if covered && request.prompt.as_deref() != Some("consent") {
            return self.issue_code(request_id, &request, &session).await;
        }
        if request.prompt.as_deref() == Some("none") {
            return self
                .finish_with_error(
                    request_id,
                    &request,
                    OAuthErrorCode::ConsentRequired,
                    "consent is required",
                )
                .await;
        }
        match self.consent_view(request_id, &request).await {
            Ok(view) => Step::Consent(view),
            Err(e) => page(500, e.description),
        }
    }

    pub(super) async fn issue_code(
        &self,
        request_id: &str,
        request: &AuthorizationRequestRow,
        session: &LoginSession,
    ) -> Step {
        let code = random_secret();
        let row = CodeRow {
            client_id: request.client_id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            code_challenge: request.code_challenge.clone(),
            resource_id: request.resource_id.clone(),
            workspace_id: request.workspace_id.clone(),
            scopes: request.scopes.clone(),
            user_id: session.user_id.clone(),
            auth_time: session.auth_time,
            expires_at: now_ms() + CODE_LIFETIME_MS,
        };
        let stored = async {
            self.store
                .insert_authorization_code(code.expose(), &row)
                .await?;
            self.store.delete_authorization_request(request_id).await
        };
        if let Err(e) = stored.await {
            return page(500, AuthorizationError::from(e).description);
        }
        let mut params = vec![("code", code.expose())];
        if let Some(state) = &request.state {
            params.push(("state", state));
        }
        Step::Redirect(self.redirect_with(&request.redirect_uri, &params))
    }

    pub(super) async fn finish_with_error(
        &self,
        request_id: &str,
        request: &AuthorizationRequestRow,
        code: OAuthErrorCode,
        description: &str,
    ) -> Step {
        let _ = self.store.delete_authorization_request(request_id).await;
        let e = AuthorizationError::new(code, description);
        Step::Redirect(self.error_redirect(&request.redirect_uri, request.state.as_deref(), &e))
    }

    /// The login session of `cookie`, if it is live and in `workspace`.
    pub(crate) async fn session_for(
        &self,
        cookie: Option<&str>,
        workspace: &str,
    ) -> Option<LoginSession> {
        let session = self.store.login_session(cookie?).await.ok().flatten()?;
        (session.workspace_id == workspace).then_some(session)
    }

    /// `redirect_uri` with the error, `state` and `iss` (RFC 9207) appended.
    pub fn error_redirect(
        &self,
        redirect_uri: &str,
        state: Option<&str>,
        e: &AuthorizationError,
    ) -> String {
        let mut params = vec![
            ("error", e.code.as_str()),
            ("error_description", e.description.as_str()),
        ];
        if let Some(state) = state {
            params.push(("state", state));
        }
        self.redirect_with(redirect_uri, &params)
    }

    fn redirect_with(&self, redirect_uri: &str, params: &[(&str, &str)]) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            query.append_pair(k, v);
        }
        query.append_pair("iss", &self.issuer);
        let separator = if redirect_uri.contains('?') { '&' } else { '?' };
        format!("{redirect_uri}{separator}{}", query.finish())
    }

    /// A browser form post is accepted only from the issuer's own pages: its `Origin` (or,
    /// without one, its `Referer`'s origin) must be the issuer's origin. Chromium sends
    /// `Origin: null` and no `Referer` for a form on a `Referrer-Policy: no-referrer` page (all
    /// of ours): then the browser-set `Sec-Fetch-Site` (no page can forge it) must say
    /// `same-origin`, as for the connect page and console.
    pub fn same_origin(
        &self,
        origin: Option<&str>,
        referer: Option<&str>,
        fetch_site: Option<&str>,
    ) -> bool {
        let ours = super::redirect_uri::origin(&self.issuer);
        let theirs = match origin.filter(|o| *o != "null") {
            Some(o) => Some(o.to_owned()),
            None => referer.and_then(super::redirect_uri::origin),
        };
        match theirs {
            Some(theirs) => ours.is_some_and(|ours| ours == theirs),
            None => ours.is_some() && fetch_site == Some("same-origin"),
        }
    }
}
