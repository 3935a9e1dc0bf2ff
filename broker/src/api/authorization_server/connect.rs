//! Connect tickets of MCP users (design 17 §5.4), HTTP glue of
//! `nexus_vault::mcp_users::tickets`: `GET /as/connect/{ticket}` (login session of the
//! ticket's user ⇒ 303 to the provider; another account ⇒ 403; expired or used ⇒ 410; no
//! session ⇒ the ticket's login page), `GET|POST /as/connect/{ticket}/login`, and
//! `GET /as/connect/{ticket}/done` (the connect flow's return). Pages carry the same headers
//! as every authorization server page; the ticket is a path segment, never logged.

use super::pages::{
    foreign_post, form_field, html, login_cookie, page, see_other, set_login_cookie, status,
};
use super::pairs;
use crate::api::AppState;
use crate::api::browser::escape;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::get;
use nexus_vault::mcp_users::tickets::{TicketLoginView, TicketStep};

const TITLE: &str = "Connect an account";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/as/connect/{ticket}", get(open))
        .route("/as/connect/{ticket}/login", get(login_page).post(login))
        .route("/as/connect/{ticket}/done", get(done))
}

async fn open(
    State(s): State<AppState>,
    Path(ticket): Path<String>,
    headers: HeaderMap,
) -> Response {
    let server = s.vault.authorization_server();
    let cookie = login_cookie(&headers, server);
    match s
        .vault
        .mcp_users()
        .open_ticket(&ticket, cookie.as_deref())
        .await
    {
        TicketStep::Login => see_other(&format!(
            "{}/login",
            s.vault.mcp_users().connect_url(&ticket)
        )),
        TicketStep::Redirect(url) => see_other(&url),
        TicketStep::Page {
            status: code,
            message,
        } => page(status(code), TITLE, &message, None),
    }
}

async fn login_page(State(s): State<AppState>, Path(ticket): Path<String>) -> Response {
    match s.vault.mcp_users().ticket_login_view(&ticket).await {
        Ok(view) if view.dev_login => login_form(&view),
        Ok(_) => page(
            StatusCode::BAD_REQUEST,
            "Log in",
            "no_login_provider: no login is configured for this authorization server.",
            None,
        ),
        Err((code, message)) => page(status(code), TITLE, message, None),
    }
}

async fn login(
    State(s): State<AppState>,
    Path(ticket): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let server = s.vault.authorization_server();
    if let Some(refused) = foreign_post(server, &headers) {
        return refused;
    }
    let form = pairs(&body);
    let outcome = s
        .vault
        .mcp_users()
        .ticket_dev_login(
            &ticket,
            &form_field(&form, "csrf"),
            &form_field(&form, "username"),
            &form_field(&form, "password"),
        )
        .await;
    let cookie = match outcome {
        Ok(c) => c,
        Err((code, message)) => return page(status(code), "Log in", message, None),
    };
    let mut response = see_other(&s.vault.mcp_users().connect_url(&ticket));
    if let Ok(v) = HeaderValue::from_str(&set_login_cookie(server, &cookie)) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

async fn done(State(s): State<AppState>, Path(ticket): Path<String>, uri: Uri) -> Response {
    let query = pairs(uri.query().unwrap_or("").as_bytes());
    let get = |key: &str| {
        query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let (code, message) = s
        .vault
        .mcp_users()
        .ticket_done(&ticket, get("status"), get("connection_id"))
        .await;
    let title = if code == 200 { "Connected" } else { TITLE };
    page(status(code), title, message, None)
}

fn login_form(view: &TicketLoginView) -> Response {
    let body = format!(
        "<p class=\"banner\">Development login (<code>nexus dev</code>): the password is in \
         <code>.nexus/dev.env</code> as NEXUS_DEV_LOGIN_PASSWORD.</p>\
         <p>Log in as the account the application asked you to connect.</p>\
         <form method=\"post\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <label>Username <input name=\"username\" autocomplete=\"username\" required pattern=\"[a-z0-9._-]{{1,64}}\"></label>\
         <label>Password <input type=\"password\" name=\"password\" autocomplete=\"current-password\" required></label>\
         <button type=\"submit\">Log in</button></form>",
        escape(view.csrf.expose()),
    );
    // After the post the browser is sent on to the provider: Chromium checks `form-action`
    // on every redirect of a form submission, so the provider's origin is allowed too.
    html(StatusCode::OK, "Log in", &body, view.next_origin.as_deref())
}
