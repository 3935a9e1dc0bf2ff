//! Console sign-in through identity providers flagged for the console (`nexus idp add
//! --console-allow-…`, design 18 §4): `GET /console/login/idp/{idp_id}` starts the OpenID
//! Connect flow (binding cookie `nexus_console_login`, `SameSite=Lax`), `GET
//! /console/login/callback` finishes it and applies the provider's explicit allow rule
//! (subjects, verified emails, groups). Allowed: a console session, then a same-site hop to
//! the list (the session cookie is `SameSite=Strict`). Not allowed: 403 `not_an_operator`.
//! Both outcomes are audited (`console.login`). The flow's rules are
//! `nexus_vault::identity::idp_login`.

use super::layout::{Esc, document_then, message_page};
use super::security::{html_response, see_other, with_cookie};
use super::session::vault_error_page;
use crate::api::AppState;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::get;
use nexus_vault::identity::idp_login::{CONSOLE_CALLBACK_PATH, FLOW_LIFETIME_MS, LoginPurpose};
use nexus_vault::store::now_ms;

const BINDING: &str = "nexus_console_login";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/login/idp/{idp_id}", get(start))
        .route(CONSOLE_CALLBACK_PATH, get(callback))
}

/// The sign-in buttons of the console's login page (links: starting a sign-in changes nothing
/// but a short-lived flow row).
pub async fn provider_links(s: &AppState) -> String {
    let Ok(idps) = s.vault.identity().console_providers().await else {
        return String::new();
    };
    idps.iter()
        .map(|idp| {
            format!(
                "<p><a class=\"button\" href=\"/console/login/idp/{}\">Sign in with {}</a></p>",
                Esc(idp.id.as_str()),
                Esc(&idp.issuer)
            )
        })
        .collect()
}

fn refused(e: &nexus_vault::identity::idp_login::IdpLoginError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    message_page(status, "Sign-in failed", &e.to_string())
}

async fn start(State(s): State<AppState>, Path(idp_id): Path<String>) -> Response {
    if let Some(refusal) = s.web.refusal() {
        return refusal;
    }
    let identity = s.vault.identity();
    let outcome = async {
        let idp = identity.console_provider(&idp_id).await?;
        let redirect_uri = format!("{}{CONSOLE_CALLBACK_PATH}", s.web.public_url);
        identity
            .idp_login_start(&idp, LoginPurpose::Console, &redirect_uri)
            .await
    }
    .await;
    match outcome {
        Ok(started) => with_cookie(
            see_other(&started.authorize_url),
            &s.web.cookies.set(
                BINDING,
                started.binding.expose(),
                "Lax",
                FLOW_LIFETIME_MS / 1000,
            ),
        ),
        Err(e) => refused(&e),
    }
}

async fn callback(State(s): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    if let Some(refusal) = s.web.refusal() {
        return refusal;
    }
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let clear = s.web.cookies.clear(BINDING, "Lax");
    let binding = s.web.cookies.read(&headers, BINDING);
    let identity = s.vault.identity();
    let user = match identity.idp_login_finish(&query, binding).await {
        Ok((LoginPurpose::Console, user)) => user,
        Ok(_) => {
            return message_page(
                StatusCode::BAD_REQUEST,
                "Sign-in failed",
                "This sign-in was not started for the console.",
            );
        }
        Err(e) => return with_cookie(refused(&e), &clear),
    };
    let subject = match identity.console_sign_in(&user).await {
        Ok(Some(subject)) => subject,
        Ok(None) => {
            let page = message_page(
                StatusCode::FORBIDDEN,
                "Not an operator",
                "not_an_operator: you signed in, but this account is not allowed to use the \
                 console. Ask an operator to add you to the identity provider's console rule.",
            );
            return with_cookie(page, &clear);
        }
        Err(e) => return vault_error_page(e),
    };
    let (cookie, _) = match s
        .vault
        .browser_sessions()
        .start_console(&subject, now_ms())
        .await
    {
        Ok(started) => started,
        Err(e) => return vault_error_page(e),
    };
    let body = "<p>Signed in. <a href=\"/console/connections\">Continue to the console</a>.</p>";
    let page = html_response(
        StatusCode::OK,
        document_then("Signed in", body, "/console/connections"),
        &[],
    );
    let set = s
        .web
        .cookies
        .set("nexus_console", cookie.expose(), "Strict", 8 * 3600);
    with_cookie(with_cookie(page, &set), &clear)
}
