//! The operators' console (design 18 §4): sign in by exchanging the admin token in a POST form
//! (never in a URL) for a console session, and the list of every connection with status,
//! health, last refresh, last error (typed), expiry, keep-alive and who used it in the last 7
//! days (rendered in `console_view`); filters are a plain GET form; pages are keyset cursors
//! (`vault::console`). Sign-in through console identity providers is `console_login`; the detail
//! page comes later.

use super::console_view::{HEADINGS, connection_row, filters_form};
use super::layout::{Esc, csrf_input, document, message_page};
use super::security::{html_response, see_other, with_cookie};
use super::session::{
    Console, CsrfForm, OriginForm, PageSession, csrf_for, take_field, vault_error_page,
};
use crate::api::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use nexus_vault::console::{ConsoleFilter, clean_filter, connections_page};
use nexus_vault::store::now_ms;
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/console",
            get(|| async { see_other("/console/connections") }),
        )
        .route("/console/login", get(login_page))
        .route("/console/login/token", post(login_with_token))
        .route("/console/logout", post(logout))
        .route("/console/connections", get(connections))
}

fn login_form(error: Option<&str>, providers: &str) -> String {
    let mut body = error
        .map(|e| super::layout::banner(false, e))
        .unwrap_or_default();
    body.push_str(providers);
    body.push_str(
        "<form method=\"post\" action=\"/console/login/token\">\
         <label for=\"admin-token\">Admin token</label>\
         <input type=\"password\" id=\"admin-token\" name=\"admin_token\" required autocomplete=\"off\" spellcheck=\"false\">\
         <p><button type=\"submit\" class=\"primary\">Sign in</button></p></form>",
    );
    document("Console sign-in", &body)
}

async fn login_page(State(s): State<AppState>) -> Response {
    let providers = super::console_login::provider_links(&s).await;
    html_response(StatusCode::OK, login_form(None, &providers), &[])
}

/// `POST /console/login/token`: the admin token, compared in constant time, for a session.
async fn login_with_token(State(s): State<AppState>, mut form: OriginForm) -> Response {
    let presented = take_field(&mut form.fields, "admin_token").unwrap_or_default();
    if !crate::api::secret_matches(&presented, &s.admin_token) {
        return html_response(
            StatusCode::UNAUTHORIZED,
            login_form(
                Some("That is not the admin token."),
                &super::console_login::provider_links(&s).await,
            ),
            &[],
        );
    }
    let (cookie, _) = match s
        .vault
        .browser_sessions()
        .start_console("admin-token", now_ms())
        .await
    {
        Ok(started) => started,
        Err(e) => return vault_error_page(e),
    };
    let set = s
        .web
        .cookies
        .set("nexus_console", cookie.expose(), "Strict", 8 * 3600);
    with_cookie(see_other("/console/connections"), &set)
}

async fn logout(State(s): State<AppState>, form: CsrfForm<Console>) -> Response {
    if let Err(e) = s.vault.browser_sessions().end(&form.session).await {
        return vault_error_page(e);
    }
    with_cookie(
        see_other("/console/login"),
        &s.web.cookies.clear("nexus_console", "Strict"),
    )
}

#[derive(Deserialize, Default)]
struct ListQuery {
    workspace: Option<String>,
    provider: Option<String>,
    status: Option<String>,
    user: Option<String>,
    health: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

/// `GET /console/connections`: one page of connections under the filters.
async fn connections(
    State(s): State<AppState>,
    PageSession(session, _): PageSession<Console>,
    query: Result<axum::extract::Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(axum::extract::Query(q)) = query else {
        return message_page(
            StatusCode::BAD_REQUEST,
            "Cannot do that",
            "The filters are malformed.",
        );
    };
    let filter = match clean_filter(ConsoleFilter {
        workspace_id: q.workspace.clone(),
        provider_name: q.provider.clone(),
        status: q.status.clone(),
        user_id: q.user.clone(),
        health: q.health.clone(),
    }) {
        Ok(f) => f,
        Err(e) => return vault_error_page(e),
    };
    let page = match connections_page(s.vault.store(), &filter, q.cursor.as_deref(), q.limit).await
    {
        Ok(page) => page,
        Err(e) => return vault_error_page(e),
    };
    let mut body = filters_form(&filter);
    body.push_str("<table><thead><tr>");
    for (heading, _) in HEADINGS {
        body.push_str(&format!("<th scope=\"col\">{heading}</th>"));
    }
    body.push_str("</tr></thead><tbody>");
    for row in &page.rows {
        body.push_str(&connection_row(row, page.used_by.get(&row.id)));
    }
    if page.rows.is_empty() {
        body.push_str(&format!(
            "<tr><td colspan=\"{}\">No connections match.</td></tr>",
            HEADINGS.len()
        ));
    }
    body.push_str("</tbody></table>");
    if let Some(next) = &page.next_cursor {
        let mut qs = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("workspace", &filter.workspace_id),
            ("provider", &filter.provider_name),
            ("status", &filter.status),
            ("user", &filter.user_id),
            ("health", &filter.health),
        ] {
            if let Some(v) = v {
                qs.append_pair(k, v);
            }
        }
        if let Some(limit) = q.limit {
            qs.append_pair("limit", &limit.to_string());
        }
        qs.append_pair("cursor", next);
        body.push_str(&format!(
            "<p><a href=\"/console/connections?{}\" rel=\"next\">Next page</a></p>",
            Esc(&qs.finish())
        ));
    }
    body.push_str(&format!(
        "<form method=\"post\" action=\"/console/logout\">{}<button type=\"submit\">Sign out</button></form>",
        csrf_input(&csrf_for(&s, &session))
    ));
    html_response(StatusCode::OK, document("Connections", &body), &[])
}
