//! Login at the authorization server: the local development login of `nexus dev` (design 17
//! §5.2) — a username and the password `nexus dev` generated —, the end of a login through one
//! of the workspace's identity providers (the OpenID Connect flow is `identity::idp_login`),
//! and the browser login sessions both create.

use super::{AuthorizationServerService, random_secret};
use crate::store::as_sessions::LoginSession;
use crate::store::now_ms;
use crate::store::pending::state_hash as sha256_hex;
use nexus_protocol::SecretString;
use subtle::ConstantTimeEq;

pub const LOGIN_PATH: &str = "/as/login";
/// The `idp_issuer` of users created by the development login.
pub const DEV_ISSUER: &str = "nexus-dev-local";
const SESSION_LIFETIME_MS: i64 = 8 * 3600 * 1000;

/// What the login page shows.
#[derive(Debug)]
pub struct LoginView {
    pub request_id: SecretString,
    pub csrf: SecretString,
    /// The development login is on (`nexus dev`).
    pub dev_login: bool,
    /// The workspace of the request (its login-enabled identity providers are offered).
    pub workspace_id: String,
}

/// A failed login: an HTTP status and a message for the page (never the password).
#[derive(Debug)]
pub struct LoginRefusal {
    pub status: u16,
    pub message: &'static str,
}

fn refusal(status: u16, message: &'static str) -> LoginRefusal {
    LoginRefusal { status, message }
}

/// `[a-z0-9._-]{1,64}`.
pub fn is_dev_username(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

/// The development password (compared as hashes, in constant time) and the username syntax.
fn check_dev_password(
    expected: &SecretString,
    username: &str,
    password: &str,
) -> Result<(), LoginRefusal> {
    let a = sha256_hex(password);
    let b = sha256_hex(expected.expose());
    if !bool::from(a.as_bytes().ct_eq(b.as_bytes())) || !is_dev_username(username) {
        tracing::info!("development login refused");
        return Err(refusal(401, "Wrong username or password."));
    }
    Ok(())
}

impl AuthorizationServerService {
    /// The login page of a pending request (a fresh CSRF token each time it is shown).
    pub async fn login_view(&self, request_id: &str) -> Result<LoginView, LoginRefusal> {
        let workspace_id = match self.store.authorization_request(request_id).await {
            Ok(Some(r)) => r.workspace_id,
            Ok(None) => return Err(refusal(400, "This authorization request has expired.")),
            Err(_) => return Err(refusal(500, "internal error; see the broker log")),
        };
        let csrf = random_secret();
        self.store
            .set_request_csrf(request_id, csrf.expose())
            .await
            .map_err(|_| refusal(500, "internal error; see the broker log"))?;
        Ok(LoginView {
            request_id: SecretString::new(request_id.to_owned()),
            csrf,
            dev_login: self.config.dev_login_password.is_some(),
            workspace_id,
        })
    }

    /// Log in with the development login; answers the new session's cookie value.
    pub async fn dev_login(
        &self,
        request_id: &str,
        csrf: &str,
        username: &str,
        password: &str,
    ) -> Result<SecretString, LoginRefusal> {
        let Some(expected) = &self.config.dev_login_password else {
            return Err(refusal(
                404,
                "The development login is not enabled on this server.",
            ));
        };
        match self.store.take_request_csrf(request_id, csrf).await {
            Ok(true) => {}
            Ok(false) => {
                return Err(refusal(
                    403,
                    "This form has expired or was not issued by Nexus.",
                ));
            }
            Err(_) => return Err(refusal(500, "internal error; see the broker log")),
        }
        check_dev_password(expected, username, password)?;
        let request = match self.store.authorization_request(request_id).await {
            Ok(Some(r)) => r,
            _ => return Err(refusal(400, "This authorization request has expired.")),
        };
        self.dev_login_session(&request.workspace_id, username)
            .await
    }

    /// The development login for a form that is not an authorization request's (a connect
    /// ticket's, design 17 §5.4): the caller checked the form's CSRF token and knows the
    /// workspace. Answers the new session's cookie value.
    pub async fn dev_login_in_workspace(
        &self,
        workspace_id: &str,
        username: &str,
        password: &str,
    ) -> Result<SecretString, LoginRefusal> {
        let Some(expected) = &self.config.dev_login_password else {
            return Err(refusal(
                404,
                "The development login is not enabled on this server.",
            ));
        };
        check_dev_password(expected, username, password)?;
        self.dev_login_session(workspace_id, username).await
    }

    /// The end of a login through identity provider `issuer` of workspace `idp_workspace`: the
    /// user (`issuer`, `subject`) of the request's workspace, and a new login session. A
    /// provider of another workspace cannot log anyone in to this request.
    pub async fn idp_login_finished(
        &self,
        request_id: &str,
        idp_workspace: &str,
        issuer: &str,
        subject: &str,
    ) -> Result<SecretString, LoginRefusal> {
        let request = match self.store.authorization_request(request_id).await {
            Ok(Some(r)) => r,
            _ => return Err(refusal(400, "This authorization request has expired.")),
        };
        if idp_workspace != request.workspace_id {
            return Err(refusal(
                403,
                "This identity provider does not log in to this workspace.",
            ));
        }
        self.login_session(&request.workspace_id, issuer, subject)
            .await
    }

    async fn dev_login_session(
        &self,
        workspace_id: &str,
        username: &str,
    ) -> Result<SecretString, LoginRefusal> {
        self.login_session(workspace_id, DEV_ISSUER, username).await
    }

    /// A login session for user (`issuer`, `subject`) of `workspace_id` (created on first login).
    async fn login_session(
        &self,
        workspace_id: &str,
        issuer: &str,
        subject: &str,
    ) -> Result<SecretString, LoginRefusal> {
        let internal = |_| refusal(500, "internal error; see the broker log");
        let user_id = self
            .store
            .upsert_as_user(workspace_id, issuer, subject)
            .await
            .map_err(internal)?;
        let cookie = random_secret();
        let session = LoginSession {
            workspace_id: workspace_id.to_owned(),
            user_id,
            auth_time: now_ms() / 1000,
        };
        self.store
            .insert_login_session(cookie.expose(), &session, SESSION_LIFETIME_MS)
            .await
            .map_err(internal)?;
        Ok(cookie)
    }

    /// Seconds a login cookie lives.
    pub fn login_cookie_max_age(&self) -> i64 {
        SESSION_LIFETIME_MS / 1000
    }
}
