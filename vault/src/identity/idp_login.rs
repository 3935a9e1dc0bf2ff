//! Browser login through the workspace's trusted identity providers (`nexus idp add` with a
//! login client): OpenID Connect authorization code flow with PKCE S256, `state`, `nonce` and
//! RFC 9207 `iss` (design 17 §5.1, design 18 §4). Used by the authorization server's login
//! page and by the operators' console; each says where to come back ([`LoginPurpose`]).
//!
//! - start: the provider's discovery document gives its endpoints; a flow row keyed by the
//!   SHA-256 of `state` keeps the nonce, the PKCE verifier and what to resume (sealed), and the
//!   SHA-256 of a fresh browser-binding cookie: a callback is accepted only in the browser that
//!   started the sign-in (no login CSRF: nobody can sign a victim in as themselves).
//! - finish: the flow is taken (a `state` works once), `iss` compared, the code redeemed at the
//!   token endpoint with the verifier, and the id_token checked by the same code that checks
//!   every token of a trusted provider ([`TrustedIssuers::verify_id_token`]) plus the nonce.
//!
//! Errors are typed and say what happened in words a person can act on; none carries the code,
//! a token, the verifier or the client secret.

use super::IdentityService;
use super::obo::{IdTokenClaims, SubjectTokenError};
use crate::error::VaultError;
use crate::oauth::{pkce_challenge, random_token};
use crate::store::StoreError;
use crate::store::audit::AuditEvent;
use crate::store::identity_providers::NewLoginFlow;
use crate::store::pending::state_hash as sha256_hex;
use nexus_protocol::SecretString;
use nexus_protocol::admin::{AddIdentityProviderRequest, ConsoleAccess, IdentityProvider};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

/// Where the authorization server's sign-ins come back (under its issuer).
pub const AS_CALLBACK_PATH: &str = "/as/login/callback";
/// Where the console's sign-ins come back (under the broker's public URL).
pub const CONSOLE_CALLBACK_PATH: &str = "/console/login/callback";
/// How long a sign-in may take at the provider.
pub const FLOW_LIFETIME_MS: i64 = 10 * 60 * 1000;
const MAX_LIST: usize = 100;

/// Why a sign-in was started, and so where it resumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginPurpose {
    /// The authorization server's pending request (its id is a bearer secret: sealed at rest).
    Authorization {
        request_id: String,
    },
    Console,
}

/// A sign-in on its way to the provider: where to send the browser, and the binding cookie's
/// value to set in it.
pub struct StartedLogin {
    pub authorize_url: String,
    pub binding: SecretString,
}

/// Someone the provider vouched for.
#[derive(Debug, Clone)]
pub struct IdpUser {
    pub idp: IdentityProvider,
    pub claims: IdTokenClaims,
}

/// A sign-in that did not work. `Display` is the sentence for the page.
#[derive(Debug, thiserror::Error)]
pub enum IdpLoginError {
    #[error("There is no such sign-in provider here.")]
    UnknownProvider,
    #[error("The identity provider could not be reached. Try again in a moment.")]
    ProviderUnavailable,
    #[error(
        "This sign-in has expired or was not started in this browser (state mismatch). Start again."
    )]
    StateMismatch,
    #[error("The answer did not come from the identity provider this sign-in was sent to.")]
    IssuerMismatch,
    #[error("Sign-in was cancelled or refused at the identity provider ({0}).")]
    Denied(String),
    #[error("The identity provider did not accept the sign-in code. Start again.")]
    CodeRejected,
    #[error("The identity provider's answer could not be verified: {0}.")]
    IdToken(SubjectTokenError),
    #[error("Internal error; see the broker log.")]
    Internal,
}

impl IdpLoginError {
    /// The HTTP status of the page that says so.
    pub fn status(&self) -> u16 {
        match self {
            Self::UnknownProvider => 404,
            Self::ProviderUnavailable | Self::CodeRejected => 502,
            Self::Denied(_) => 403,
            Self::Internal => 500,
            Self::StateMismatch | Self::IssuerMismatch | Self::IdToken(_) => 400,
        }
    }
}

impl From<StoreError> for IdpLoginError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "identity provider login: store failure");
        Self::Internal
    }
}

/// What is sealed in the flow row.
#[derive(Serialize, Deserialize)]
struct Sealed {
    verifier: String,
    /// The authorization request to resume (`None` for the console).
    request: Option<String>,
    token_endpoint: String,
    /// The provider says it sends `iss` in its answers (RFC 9207): then it must be there.
    iss_required: bool,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}

#[derive(Deserialize)]
struct TokenAnswer {
    id_token: Option<String>,
}

fn short(v: &str, max: usize) -> bool {
    !v.is_empty() && v.len() <= max && !v.chars().any(char::is_control)
}

/// The rules on the login fields of `nexus idp add` (the admin body).
pub(crate) fn check_login_settings(req: &AddIdentityProviderRequest) -> Result<(), VaultError> {
    if req
        .login_client_id
        .as_deref()
        .is_some_and(|c| !short(c, 256))
    {
        return Err(VaultError::invalid(
            "`login_client_id` must be 1..256 characters",
        ));
    }
    if let Some(secret) = &req.login_client_secret {
        if req.login_client_id.is_none() {
            return Err(VaultError::invalid(
                "`login_client_secret` needs `login_client_id`",
            ));
        }
        if !short(secret.expose(), 1024) {
            // Never quote the value.
            return Err(VaultError::invalid(
                "`login_client_secret` must be 1..1024 characters without control characters",
            ));
        }
    }
    if let Some(console) = &req.console {
        if req.login_client_id.is_none() {
            return Err(VaultError::invalid(
                "`console` needs `login_client_id` (operators sign in through that client)",
            ));
        }
        let lists = [&console.subjects, &console.emails, &console.groups];
        if lists.iter().all(|l| l.is_empty()) {
            return Err(VaultError::invalid(
                "`console` needs an explicit allow rule: at least one subject, email or group",
            ));
        }
        if lists
            .iter()
            .any(|l| l.len() > MAX_LIST || !l.iter().all(|v| short(v, 256)))
        {
            return Err(VaultError::invalid(
                "`console` lists hold at most 100 entries of 1..256 characters",
            ));
        }
        let claim_ok = short(&console.groups_claim, 64)
            && console
                .groups_claim
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.:/".contains(&b));
        if !claim_ok {
            return Err(VaultError::invalid(
                "`groups_claim` must be a claim name (letters, digits, `_-.:/`, ≤ 64)",
            ));
        }
    }
    Ok(())
}

/// The console rule: the user's `sub` is listed, or their **verified** email is (compared
/// without case), or one of their groups is. Nothing listed matches nobody.
pub fn console_allows(access: &ConsoleAccess, user: &IdTokenClaims) -> bool {
    if access.subjects.contains(&user.subject) {
        return true;
    }
    if user.email_verified
        && let Some(email) = &user.email
        && access.emails.iter().any(|e| e.eq_ignore_ascii_case(email))
    {
        return true;
    }
    let groups: Vec<&str> = match user.other.get(&access.groups_claim) {
        Some(serde_json::Value::Array(items)) => items.iter().filter_map(|g| g.as_str()).collect(),
        Some(serde_json::Value::String(one)) => vec![one.as_str()],
        _ => Vec::new(),
    };
    groups.iter().any(|g| access.groups.iter().any(|a| a == g))
}

/// `[a-z0-9_]` only, at most 64: an OAuth error code from the provider, safe to show.
fn safe_error_code(code: &str) -> String {
    if short(code, 64)
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        code.to_owned()
    } else {
        "unrecognised error".to_owned()
    }
}

fn field<'a>(query: &'a [(String, String)], key: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

impl IdentityService {
    /// A login-enabled provider of workspace `ws`.
    pub async fn login_provider(
        &self,
        ws: &str,
        idp_id: &str,
    ) -> Result<IdentityProvider, IdpLoginError> {
        match self.store.identity_provider(ws, idp_id).await? {
            Some(idp) if idp.login_client_id.is_some() => Ok(idp),
            _ => Err(IdpLoginError::UnknownProvider),
        }
    }

    /// The login-enabled providers of workspace `ws` (the authorization server's chooser).
    pub async fn login_providers(&self, ws: &str) -> Result<Vec<IdentityProvider>, VaultError> {
        let all = self.store.list_identity_providers(ws).await?;
        Ok(all
            .into_iter()
            .filter(|p| p.login_client_id.is_some())
            .collect())
    }

    /// The providers operators may sign in to the console through.
    pub async fn console_providers(&self) -> Result<Vec<IdentityProvider>, VaultError> {
        Ok(self.store.console_identity_providers().await?)
    }

    /// A console provider by id.
    pub async fn console_provider(&self, idp_id: &str) -> Result<IdentityProvider, IdpLoginError> {
        if !nexus_protocol::IdentityProviderId::is_valid(idp_id) {
            return Err(IdpLoginError::UnknownProvider);
        }
        match self.store.identity_provider_by_id(idp_id).await? {
            Some(idp) if idp.console.is_some() && idp.login_client_id.is_some() => Ok(idp),
            _ => Err(IdpLoginError::UnknownProvider),
        }
    }

    /// Start a sign-in at `idp`, coming back to `redirect_uri`.
    pub async fn idp_login_start(
        &self,
        idp: &IdentityProvider,
        purpose: LoginPurpose,
        redirect_uri: &str,
    ) -> Result<StartedLogin, IdpLoginError> {
        let client_id = idp
            .login_client_id
            .as_deref()
            .ok_or(IdpLoginError::UnknownProvider)?;
        let url = format!(
            "{}/.well-known/openid-configuration",
            idp.issuer.trim_end_matches('/')
        );
        let doc: Discovery = self
            .trusted
            .get_json(&url)
            .await
            .map_err(|_| IdpLoginError::ProviderUnavailable)?;
        if doc.issuer != idp.issuer {
            tracing::warn!(idp = %idp.id, "discovery document names another issuer");
            return Err(IdpLoginError::ProviderUnavailable);
        }
        let state = random_token(32);
        let nonce = random_token(32);
        let verifier = random_token(32);
        let binding = SecretString::new(random_token(32));
        let (purpose_name, request) = match purpose {
            LoginPurpose::Authorization { request_id } => ("as", Some(request_id)),
            LoginPurpose::Console => ("console", None),
        };
        let sealed = serde_json::to_string(&Sealed {
            verifier: verifier.clone(),
            request,
            token_endpoint: doc.token_endpoint,
            iss_required: doc.authorization_response_iss_parameter_supported,
        })
        .map_err(|_| IdpLoginError::Internal)?;
        let state_hash = sha256_hex(&state);
        self.store
            .insert_login_flow(&NewLoginFlow {
                state_hash: &state_hash,
                purpose: purpose_name,
                workspace_id: idp.workspace_id.as_str(),
                idp_id: idp.id.as_str(),
                nonce: &nonce,
                binding_hash: &sha256_hex(binding.expose()),
                redirect_uri,
                secret: &sealed,
                lifetime_ms: FLOW_LIFETIME_MS,
            })
            .await?;
        let mut authorize_url = url::Url::parse(&doc.authorization_endpoint)
            .map_err(|_| IdpLoginError::ProviderUnavailable)?;
        authorize_url
            .query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", "openid email profile")
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &pkce_challenge(&verifier))
            .append_pair("code_challenge_method", "S256");
        Ok(StartedLogin {
            authorize_url: authorize_url.into(),
            binding,
        })
    }

    /// Finish a sign-in from the callback's query and the browser's binding cookie.
    pub async fn idp_login_finish(
        &self,
        query: &[(String, String)],
        binding: Option<&str>,
    ) -> Result<(LoginPurpose, IdpUser), IdpLoginError> {
        let state = field(query, "state").ok_or(IdpLoginError::StateMismatch)?;
        if state.len() > 512 {
            return Err(IdpLoginError::StateMismatch);
        }
        let flow = self
            .store
            .take_login_flow(&sha256_hex(state))
            .await?
            .ok_or(IdpLoginError::StateMismatch)?;
        let same_browser = binding.is_some_and(|b| {
            bool::from(sha256_hex(b).as_bytes().ct_eq(flow.binding_hash.as_bytes()))
        });
        if flow.expired || !same_browser {
            return Err(IdpLoginError::StateMismatch);
        }
        let sealed: Sealed =
            serde_json::from_str(flow.secret.expose()).map_err(|_| IdpLoginError::Internal)?;
        let idp = self
            .store
            .identity_provider(&flow.workspace_id, &flow.idp_id)
            .await?
            .ok_or(IdpLoginError::UnknownProvider)?;
        match field(query, "iss") {
            Some(iss) if iss != idp.issuer => return Err(IdpLoginError::IssuerMismatch),
            None if sealed.iss_required => return Err(IdpLoginError::IssuerMismatch),
            _ => {}
        }
        if let Some(error) = field(query, "error") {
            return Err(IdpLoginError::Denied(safe_error_code(error)));
        }
        let code = field(query, "code").ok_or(IdpLoginError::CodeRejected)?;
        let client_id = idp
            .login_client_id
            .clone()
            .ok_or(IdpLoginError::UnknownProvider)?;
        let secret = self
            .store
            .idp_login_secret(&flow.workspace_id, &flow.idp_id)
            .await?;
        let id_token = self
            .redeem(
                &sealed,
                code,
                &flow.redirect_uri,
                &client_id,
                secret.as_ref(),
            )
            .await?;
        let claims = self
            .trusted
            .verify_id_token(&idp, id_token.expose(), &client_id, &flow.nonce)
            .await
            .map_err(|e| match e {
                SubjectTokenError::KeysUnavailable => IdpLoginError::ProviderUnavailable,
                other => IdpLoginError::IdToken(other),
            })?;
        let purpose = match (flow.purpose.as_str(), sealed.request) {
            ("as", Some(request_id)) => LoginPurpose::Authorization { request_id },
            ("console", None) => LoginPurpose::Console,
            _ => return Err(IdpLoginError::Internal),
        };
        Ok((purpose, IdpUser { idp, claims }))
    }

    /// The code for tokens at the provider's token endpoint (client_secret_basic when the
    /// client has a secret, else a public client); answers the id_token.
    async fn redeem(
        &self,
        sealed: &Sealed,
        code: &str,
        redirect_uri: &str,
        client_id: &str,
        secret: Option<&SecretString>,
    ) -> Result<SecretString, IdpLoginError> {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", sealed.verifier.as_str()),
        ];
        let mut request = self.trusted.http().post(&sealed.token_endpoint);
        match secret {
            Some(secret) => {
                // RFC 6749 §2.3.1: both parts form-encoded before Basic.
                let enc = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                request = request.basic_auth(enc(client_id), Some(enc(secret.expose())));
            }
            None => form.push(("client_id", client_id)),
        }
        let response = request.form(&form).send().await.map_err(|e| {
            tracing::warn!(error = %crate::oauth::describe(&e), "identity provider token endpoint unreachable");
            IdpLoginError::ProviderUnavailable
        })?;
        let status = response.status();
        if status.is_server_error() {
            return Err(IdpLoginError::ProviderUnavailable);
        }
        if !status.is_success() {
            tracing::info!(
                status = status.as_u16(),
                "identity provider refused the sign-in code"
            );
            return Err(IdpLoginError::CodeRejected);
        }
        let answer: TokenAnswer = response
            .json()
            .await
            .map_err(|_| IdpLoginError::CodeRejected)?;
        answer
            .id_token
            .map(SecretString::new)
            .ok_or(IdpLoginError::IdToken(SubjectTokenError::Invalid(
                "the token answer has no id_token",
            )))
    }

    /// Decide a console sign-in under the provider's rule, and record it (`console.login`,
    /// outcome `ok` or `denied`). Answers the console session's subject when allowed.
    pub async fn console_sign_in(&self, user: &IdpUser) -> Result<Option<String>, VaultError> {
        let allowed = user
            .idp
            .console
            .as_ref()
            .is_some_and(|rule| console_allows(rule, &user.claims));
        let principal = format!("idp:{}:{}", user.idp.id.as_str(), user.claims.subject);
        let event = AuditEvent {
            workspace_id: Some(user.idp.workspace_id.as_str()),
            action: "console.login",
            target: Some(user.idp.id.as_str()),
            principal: &principal,
            outcome: if allowed { "ok" } else { "denied" },
            request_id: None,
            detail: None,
        };
        if allowed {
            // No console session without its durable record.
            self.store.audit_required(event).await?;
            Ok(Some(principal))
        } else {
            self.store.audit(event).await;
            Ok(None)
        }
    }
}

#[cfg(test)]
#[path = "idp_login_tests.rs"]
mod tests;
