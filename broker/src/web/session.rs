//! The browser session of a request, and the one form extractor every POST goes through.
//!
//! [`CsrfForm`] reads the session cookie, checks the same-origin headers and the `_csrf` field,
//! caps the body at 64 KiB and parses it; a handler that takes a `CsrfForm` cannot forget any of
//! it. Forms without a session yet (`/connect/redeem`, console login) use [`OriginForm`]: the
//! same-origin check and the size cap, plus their own single-use secret.

use super::WebConfig;
use super::layout::message_page;
use super::security::{CSRF_FIELD, csrf_matches, csrf_token, same_origin};
use crate::api::AppState;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use nexus_vault::browser_sessions::{BrowserSession, SessionKind};
use nexus_vault::store::now_ms;

/// Largest form body accepted.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// Which session a route needs: its kind and cookie.
pub trait Kind: Send + Sync + 'static {
    const KIND: SessionKind;
    /// Cookie name before the `__Host-` prefix.
    const COOKIE: &'static str;
    const SAME_SITE: &'static str;
    /// What to say when there is no session.
    const EXPIRED: &'static str;
}

/// The connect page: `SameSite=Lax` (the way back from the provider is a cross-site GET).
pub struct Connect;
impl Kind for Connect {
    const KIND: SessionKind = SessionKind::Connect;
    const COOKIE: &'static str = "nexus_connect";
    const SAME_SITE: &'static str = "Lax";
    const EXPIRED: &'static str =
        "This page's session has ended or was never opened. Ask for a new connect link.";
}

/// The operators' console: `SameSite=Strict`.
pub struct Console;
impl Kind for Console {
    const KIND: SessionKind = SessionKind::Console;
    const COOKIE: &'static str = "nexus_console";
    const SAME_SITE: &'static str = "Strict";
    const EXPIRED: &'static str = "Sign in to the console first.";
}

fn web(s: &AppState) -> &WebConfig {
    &s.web
}

/// The live session of kind `K` behind the request's cookie, or the page that says there is none.
pub async fn session<K: Kind>(
    s: &AppState,
    headers: &HeaderMap,
) -> Result<BrowserSession, Response> {
    if let Some(refusal) = web(s).refusal() {
        return Err(refusal);
    }
    let Some(cookie) = web(s).cookies.read(headers, K::COOKIE) else {
        return Err(no_session::<K>());
    };
    match s
        .vault
        .browser_sessions()
        .lookup(K::KIND, cookie, now_ms())
        .await
    {
        Ok(Some(session)) => Ok(session),
        Ok(None) => Err(no_session::<K>()),
        Err(e) => Err(vault_error_page(e)),
    }
}

fn no_session<K: Kind>() -> Response {
    message_page(StatusCode::UNAUTHORIZED, "Session ended", K::EXPIRED)
}

/// The CSRF token for forms of this session.
pub fn csrf_for(s: &AppState, session: &BrowserSession) -> String {
    csrf_token(&s.vault.browser_sessions().csrf_key(), &session.id_hash)
}

/// A page for a vault error (never a 5xx for a client mistake; no secret in messages).
pub fn vault_error_page(e: nexus_vault::VaultError) -> Response {
    let e = crate::error::ApiError::from(e);
    let title = if e.status().is_client_error() {
        "Cannot do that"
    } else {
        "Something went wrong"
    };
    message_page(e.status(), title, &e.message)
}

pub fn csrf_failed() -> Response {
    message_page(
        StatusCode::FORBIDDEN,
        "Form refused",
        "This form expired or came from another site. Reload the page and try again. (csrf_failed)",
    )
}

/// The live session of kind `K` (an extractor; rejection: the "session ended" page).
pub struct PageSession<K: Kind>(pub BrowserSession, pub std::marker::PhantomData<K>);

impl<K: Kind> axum::extract::FromRequestParts<AppState> for PageSession<K> {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        s: &AppState,
    ) -> Result<Self, Response> {
        Ok(Self(
            session::<K>(s, &parts.headers).await?,
            std::marker::PhantomData,
        ))
    }
}

/// A form POST with a session of kind `K` and a valid CSRF token; fields without `_csrf`.
pub struct CsrfForm<K: Kind> {
    pub session: BrowserSession,
    pub fields: Vec<(String, String)>,
    _kind: std::marker::PhantomData<K>,
}

impl<K: Kind> FromRequest<AppState> for CsrfForm<K> {
    type Rejection = Response;

    async fn from_request(req: Request, s: &AppState) -> Result<Self, Response> {
        let (parts, body) = req.into_parts();
        let session = session::<K>(s, &parts.headers).await?;
        if !same_origin(&parts.headers, &web(s).public_origin) {
            return Err(csrf_failed());
        }
        let mut fields = read_fields(body).await?;
        let presented = take_field(&mut fields, CSRF_FIELD).unwrap_or_default();
        if !csrf_matches(
            &s.vault.browser_sessions().csrf_key(),
            &session.id_hash,
            &presented,
        ) {
            return Err(csrf_failed());
        }
        Ok(Self {
            session,
            fields,
            _kind: std::marker::PhantomData,
        })
    }
}

/// A form POST from one of our own pages, before any session exists.
pub struct OriginForm {
    pub fields: Vec<(String, String)>,
}

impl FromRequest<AppState> for OriginForm {
    type Rejection = Response;

    async fn from_request(req: Request, s: &AppState) -> Result<Self, Response> {
        if let Some(refusal) = web(s).refusal() {
            return Err(refusal);
        }
        let (parts, body) = req.into_parts();
        if !same_origin(&parts.headers, &web(s).public_origin) {
            return Err(csrf_failed());
        }
        Ok(Self {
            fields: read_fields(body).await?,
        })
    }
}

async fn read_fields(body: axum::body::Body) -> Result<Vec<(String, String)>, Response> {
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| {
            message_page(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Form too large",
                "The form is larger than 64 KiB; nothing was saved.",
            )
        })?;
    Ok(url::form_urlencoded::parse(&bytes).into_owned().collect())
}

/// Remove and return the first value of `name`.
pub fn take_field(fields: &mut Vec<(String, String)>, name: &str) -> Option<String> {
    let i = fields.iter().position(|(k, _)| k == name)?;
    Some(fields.remove(i).1)
}
