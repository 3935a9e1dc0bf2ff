//! The operators' console (design 18 §4), first part: sign in by exchanging the admin token in
//! a POST form (never in a URL) for a console session, and the list of every connection with
//! status, last refresh, last error and expiry; filters are a plain GET form; pages are keyset
//! cursors (`vault::console`). Sign-in through console IdPs and the detail page come later.

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
use nexus_vault::store::{now_ms, rfc3339};
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

fn login_form(error: Option<&str>) -> String {
    let mut body = error
        .map(|e| super::layout::banner(false, e))
        .unwrap_or_default();
    body.push_str(
        "<form method=\"post\" action=\"/console/login/token\">\
         <label for=\"admin-token\">Admin token</label>\
         <input type=\"password\" id=\"admin-token\" name=\"admin_token\" required autocomplete=\"off\" spellcheck=\"false\">\
         <p><button type=\"submit\" class=\"primary\">Sign in</button></p></form>",
    );
    document("Console sign-in", &body)
}

async fn login_page() -> Response {
    html_response(StatusCode::OK, login_form(None), &[])
}

/// `POST /console/login/token`: the admin token, compared in constant time, for a session.
async fn login_with_token(State(s): State<AppState>, mut form: OriginForm) -> Response {
    let presented = take_field(&mut form.fields, "admin_token").unwrap_or_default();
    if !crate::api::secret_matches(&presented, &s.admin_token) {
        return html_response(
            StatusCode::UNAUTHORIZED,
            login_form(Some("That is not the admin token.")),
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
    cursor: Option<String>,
    limit: Option<i64>,
}

fn text_filter(name: &str, label: &str, value: &Option<String>) -> String {
    format!(
        "<div><label for=\"f-{name}\">{label}</label><input type=\"text\" id=\"f-{name}\" name=\"{name}\" value=\"{}\"></div>",
        Esc(value.as_deref().unwrap_or(""))
    )
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
    }) {
        Ok(f) => f,
        Err(e) => return vault_error_page(e),
    };
    let page = match connections_page(s.vault.store(), &filter, q.cursor.as_deref(), q.limit).await
    {
        Ok(page) => page,
        Err(e) => return vault_error_page(e),
    };
    let mut body = String::from(
        "<form method=\"get\" action=\"/console/connections\" class=\"filters\" role=\"search\">",
    );
    body.push_str(&text_filter("workspace", "Workspace", &filter.workspace_id));
    body.push_str(&text_filter("provider", "Provider", &filter.provider_name));
    body.push_str("<div><label for=\"f-status\">Status</label><select id=\"f-status\" name=\"status\" data-autosubmit>");
    for st in ["", "active", "needs_reauth", "failed", "pending", "revoked"] {
        let selected = if filter.status.as_deref().unwrap_or("") == st {
            " selected"
        } else {
            ""
        };
        let label = if st.is_empty() { "any" } else { st };
        body.push_str(&format!(
            "<option value=\"{st}\"{selected}>{label}</option>"
        ));
    }
    body.push_str("</select></div>");
    body.push_str(&text_filter("user", "User", &filter.user_id));
    body.push_str("<div><button type=\"submit\">Filter</button></div></form>");
    body.push_str(
        "<table><thead><tr><th scope=\"col\">Workspace</th><th scope=\"col\">Provider</th><th scope=\"col\">User</th>\
         <th scope=\"col\">Status</th><th scope=\"col\">Last refresh</th><th scope=\"col\">Last error</th>\
         <th scope=\"col\">Access expires</th><th scope=\"col\">Keep-alive</th><th scope=\"col\">Updated</th></tr></thead><tbody>",
    );
    for row in &page.rows {
        let opt = |v: Option<i64>| v.map(rfc3339).unwrap_or_else(|| "—".into());
        // Stored `last_error`s are short codes and reasons written by the vault (never a
        // token); bounded here anyway.
        let error: String = row
            .last_error
            .as_deref()
            .unwrap_or("—")
            .chars()
            .take(200)
            .collect();
        body.push_str(&format!(
            "<tr data-id=\"{id}\"><td>{ws}</td><td>{p}</td><td>{u}</td><td class=\"status\">{st}</td><td>{lr}</td><td>{err}</td><td>{exp}</td><td class=\"keep-alive\">{ka}</td><td>{up}</td></tr>",
            id = Esc(&row.id),
            ws = Esc(&row.workspace_id),
            p = Esc(&row.provider_name),
            u = Esc(row.user_id.as_deref().unwrap_or("—")),
            st = Esc(row.status.as_str()),
            lr = Esc(&opt(row.last_refresh_at)),
            err = Esc(&error),
            exp = Esc(&opt(row.access_expires_at)),
            ka = Esc(&keep_alive_text(row)),
            up = Esc(&rfc3339(row.updated_at)),
        ));
    }
    if page.rows.is_empty() {
        body.push_str("<tr><td colspan=\"9\">No connections match.</td></tr>");
    }
    body.push_str("</tbody></table>");
    if let Some(next) = &page.next_cursor {
        let mut qs = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("workspace", &filter.workspace_id),
            ("provider", &filter.provider_name),
            ("status", &filter.status),
            ("user", &filter.user_id),
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

/// The keep-alive cell: when the worker last refreshed the connection and when it is next due
/// (`—` for a connection of a provider without a policy, or not yet scheduled).
fn keep_alive_text(row: &nexus_vault::store::connections::ConnectionRow) -> String {
    match (row.last_keepalive_at, row.next_keepalive_at) {
        (None, None) => "—".into(),
        (last, next) => format!(
            "last {} · next {}",
            last.map(rfc3339).unwrap_or_else(|| "never".into()),
            next.map(rfc3339).unwrap_or_else(|| "—".into())
        ),
    }
}
