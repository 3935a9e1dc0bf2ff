//! Server-rendered pages for people (design 18 §2–§4): the connect page reached through a signed
//! link, and the operators' console. Plain HTML forms that work without JavaScript; a strict
//! CSP with no inline script or style; CSRF on every POST; session cookies only.
//!
//! - [`security`]: headers, cookies, CSRF, same-origin (shared with other page surfaces);
//! - [`session`]: the session of a request and the `CsrfForm` extractor;
//! - [`layout`]: document shell and escaping; [`assets`]: stylesheet and script;
//! - [`connect`]: `/connect/*` (rendering in [`connect_view`]); [`console`]: `/console/*`
//!   (rendering in [`console_view`]; sign-in through identity providers in [`console_login`]).

pub mod assets;
pub mod connect;
pub mod connect_view;
pub mod console;
pub mod console_login;
pub mod console_view;
pub mod layout;
pub mod security;
pub mod session;

use crate::api::AppState;
use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use security::{CookiePolicy, origin_of};

/// What the pages need to know about where they are served.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// The broker's public base URL (no trailing slash).
    pub public_url: String,
    /// Its origin, compared with a form POST's `Origin`.
    pub public_origin: String,
    pub cookies: CookiePolicy,
    /// Why pages are off (an http public URL that is not loopback), if they are.
    disabled: Option<String>,
}

impl WebConfig {
    pub fn new(public_url: &str) -> Self {
        let public_url = public_url.trim_end_matches('/').to_owned();
        let disabled = CookiePolicy::check(&public_url).err();
        if let Some(why) = &disabled {
            tracing::warn!(%why, "connect page and console are disabled");
        } else if !public_url.starts_with("https://") {
            tracing::info!(
                "browser pages on a loopback http URL: cookies without Secure/__Host- (development only)"
            );
        }
        Self {
            public_origin: origin_of(&public_url).unwrap_or_default(),
            cookies: CookiePolicy::for_public_url(&public_url),
            public_url,
            disabled,
        }
    }

    /// The page answered instead of any page while pages are disabled.
    pub fn refusal(&self) -> Option<Response> {
        self.disabled.as_ref().map(|why| {
            layout::message_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Pages unavailable",
                &format!("The operator must configure this broker first: {why}."),
            )
        })
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(connect::router())
        .merge(console::router())
        .merge(console_login::router())
        .route("/static/{file}", axum::routing::get(assets::serve))
}
