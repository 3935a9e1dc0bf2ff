//! The browser side of the authorization server: `/as/authorize`, the login page and the
//! development login, the consent page. Server-rendered HTML, no JavaScript; every page gets
//! a strict CSP (`default-src 'none'`, forms only to ourselves and, for consent, the client's
//! redirect origin), `frame-ancestors 'none'`, no referrer, no caching. Form posts must come
//! from the issuer's origin and carry the request's one-time CSRF token. The login cookie is
//! `HttpOnly`, `SameSite=Lax`, and `__Host-`/`Secure` when the issuer is https.

use super::pairs;
use crate::api::AppState;
use crate::api::browser::escape;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use nexus_protocol::oauth;
use nexus_vault::authorization_server::AuthorizationServerService;
use nexus_vault::authorization_server::authorize::{ConsentView, Step};
use nexus_vault::authorization_server::login::{LOGIN_PATH, LoginView};

const CSS_PATH: &str = "/as/static/nexus.css";
const CSS: &str = "body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#222}\
.banner{background:#fff3cd;border:1px solid #e0c060;padding:.5rem 1rem}.warn{color:#8a4b00}\
button{font-size:1rem;padding:.5rem 1.5rem;margin-right:1rem}label{display:block;margin:.5rem 0}";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(oauth::AUTHORIZE_PATH, get(authorize))
        .route(LOGIN_PATH, get(login_page))
        .merge(super::idp_login::router())
        .route(oauth::DEV_LOGIN_PATH, axum::routing::post(dev_login))
        .route(oauth::CONSENT_PATH, get(continue_request).post(consent))
        .route(
            CSS_PATH,
            get(|| async { ([(header::CONTENT_TYPE, "text/css")], CSS) }),
        )
}

pub(super) fn cookie_name(server: &AuthorizationServerService) -> &'static str {
    if server.issuer().starts_with("https://") {
        "__Host-nexus_as"
    } else {
        "nexus_as"
    }
}

/// The `Set-Cookie` value of a new login session.
pub(super) fn set_login_cookie(
    server: &AuthorizationServerService,
    cookie: &nexus_protocol::SecretString,
) -> String {
    let secure = if cookie_name(server).starts_with("__Host-") {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        cookie_name(server),
        cookie.expose(),
        server.login_cookie_max_age()
    )
}

pub(super) fn login_cookie(
    headers: &HeaderMap,
    server: &AuthorizationServerService,
) -> Option<String> {
    read_cookie(headers, cookie_name(server))
}

pub(super) fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

pub(super) fn query_value(uri: &Uri, key: &str) -> Option<String> {
    pairs(uri.query().unwrap_or("").as_bytes())
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

async fn authorize(State(s): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    let server = s.vault.authorization_server();
    let query = pairs(uri.query().unwrap_or("").as_bytes());
    let cookie = login_cookie(&headers, server);
    render(server.authorize(&query, cookie.as_deref()).await)
}

async fn continue_request(State(s): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    let server = s.vault.authorization_server();
    let Some(request) = query_value(&uri, "request") else {
        return page(
            StatusCode::BAD_REQUEST,
            "Authorization",
            "The request parameter is missing.",
            None,
        );
    };
    let cookie = login_cookie(&headers, server);
    render(server.continue_request(&request, cookie.as_deref()).await)
}

async fn login_page(State(s): State<AppState>, uri: Uri) -> Response {
    let server = s.vault.authorization_server();
    let Some(request) = query_value(&uri, "request") else {
        return page(
            StatusCode::BAD_REQUEST,
            "Log in",
            "The request parameter is missing.",
            None,
        );
    };
    let view = match server.login_view(&request).await {
        Ok(view) => view,
        Err(e) => return page(status(e.status), "Log in", e.message, None),
    };
    let idps = match s.vault.identity().login_providers(&view.workspace_id).await {
        Ok(idps) => idps,
        Err(_) => {
            return page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Log in",
                "internal error; see the broker log",
                None,
            );
        }
    };
    let links: Vec<(String, String)> = idps
        .iter()
        .map(|idp| {
            (
                super::idp_login::start_path(idp.id.as_str(), &request),
                idp.issuer.clone(),
            )
        })
        .collect();
    match (view.dev_login, links.as_slice()) {
        // One way to log in: go there at once (design 17 §5.1).
        (false, [(only, _)]) => see_other(only),
        (false, []) => page(
            StatusCode::BAD_REQUEST,
            "Log in",
            "no_login_provider: no login is configured for this authorization server.",
            None,
        ),
        _ => login_form(&view, &links),
    }
}

pub(super) fn form_field(form: &[(String, String)], key: &str) -> String {
    form.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// A form post from somewhere other than our own pages is refused before it is read.
pub(super) fn foreign_post(
    server: &AuthorizationServerService,
    headers: &HeaderMap,
) -> Option<Response> {
    let header_text = |h| headers.get(h).and_then(|v: &HeaderValue| v.to_str().ok());
    if server.same_origin(
        header_text(header::ORIGIN),
        header_text(header::REFERER),
        header_text(HeaderName::from_static("sec-fetch-site")),
    ) {
        return None;
    }
    Some(page(
        StatusCode::FORBIDDEN,
        "Refused",
        "This form was not posted from this server's own page.",
        None,
    ))
}

async fn dev_login(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let server = s.vault.authorization_server();
    if let Some(refused) = foreign_post(server, &headers) {
        return refused;
    }
    let form = pairs(&body);
    let request = form_field(&form, "request");
    let outcome = server
        .dev_login(
            &request,
            &form_field(&form, "csrf"),
            &form_field(&form, "username"),
            &form_field(&form, "password"),
        )
        .await;
    let cookie = match outcome {
        Ok(c) => c,
        Err(e) => return page(status(e.status), "Log in", e.message, None),
    };
    let set_cookie = set_login_cookie(server, &cookie);
    let next = format!(
        "{}{}?{}",
        server.issuer(),
        oauth::CONSENT_PATH,
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("request", &request)
            .finish()
    );
    let mut response = see_other(&next);
    if let Ok(v) = HeaderValue::from_str(&set_cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

async fn consent(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let server = s.vault.authorization_server();
    if let Some(refused) = foreign_post(server, &headers) {
        return refused;
    }
    let form = pairs(&body);
    let decision = form_field(&form, "decision");
    if decision != "allow" && decision != "deny" {
        return page(
            StatusCode::BAD_REQUEST,
            "Authorization",
            "Choose Allow or Deny.",
            None,
        );
    }
    let cookie = login_cookie(&headers, server);
    let step = server
        .decide(
            &form_field(&form, "request"),
            &form_field(&form, "csrf"),
            decision == "allow",
            cookie.as_deref(),
        )
        .await;
    render(step)
}

pub(super) fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST)
}

fn render(step: Step) -> Response {
    match step {
        Step::Page {
            status: code,
            message,
        } => page(status(code), "Authorization", &message, None),
        Step::Redirect(url) => see_other(&url),
        Step::Consent(view) => consent_form(&view),
    }
}

pub(super) fn see_other(location: &str) -> Response {
    let Ok(value) = HeaderValue::from_str(location) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Authorization",
            "The redirect URI is not usable.",
            None,
        );
    };
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, value),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
    )
        .into_response()
}

fn login_form(view: &LoginView, idps: &[(String, String)]) -> Response {
    let mut body: String = idps
        .iter()
        .map(|(href, issuer)| {
            format!(
                "<p><a class=\"idp\" href=\"{}\">Log in with {}</a></p>",
                escape(href),
                escape(issuer)
            )
        })
        .collect();
    if !view.dev_login {
        return html(StatusCode::OK, "Log in", &body, None);
    }
    body += &format!(
        "<p class=\"banner\">Development login (<code>nexus dev</code>): the password is in \
         <code>.nexus/dev.env</code> as NEXUS_DEV_LOGIN_PASSWORD.</p>\
         <form method=\"post\" action=\"{}\">\
         <input type=\"hidden\" name=\"request\" value=\"{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <label>Username <input name=\"username\" autocomplete=\"username\" required pattern=\"[a-z0-9._-]{{1,64}}\"></label>\
         <label>Password <input type=\"password\" name=\"password\" autocomplete=\"current-password\" required></label>\
         <button type=\"submit\">Log in</button></form>",
        oauth::DEV_LOGIN_PATH,
        escape(view.request_id.expose()),
        escape(view.csrf.expose()),
    );
    html(StatusCode::OK, "Log in", &body, None)
}

fn consent_form(view: &ConsentView) -> Response {
    let scopes: String = view
        .scopes
        .iter()
        .map(|s| format!("<li><code>{}</code></li>", escape(s)))
        .collect();
    let warning = if view.loopback_only {
        "<p class=\"warn\">This application runs on this computer (its redirect addresses are \
         all local). Only continue if you started it yourself.</p>"
    } else {
        ""
    };
    let body = format!(
        "<p><strong>{}</strong> (from <code>{}</code>) asks to use <strong>{}</strong> \
         (<code>{}</code>) as you, with these permissions:</p><ul>{scopes}</ul>{warning}\
         <p>You will be sent back to <code>{}</code>.</p>\
         <form method=\"post\" action=\"{}\">\
         <input type=\"hidden\" name=\"request\" value=\"{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>",
        escape(&view.client_name),
        escape(&view.client_host),
        escape(&view.resource_name),
        escape(&view.resource_uri),
        escape(&view.redirect_origin),
        oauth::CONSENT_PATH,
        escape(view.request_id.expose()),
        escape(view.csrf.expose()),
    );
    html(
        StatusCode::OK,
        "Allow access?",
        &body,
        Some(&view.redirect_origin),
    )
}

pub(super) fn page(
    status: StatusCode,
    title: &str,
    message: &str,
    form_origin: Option<&str>,
) -> Response {
    html(
        status,
        title,
        &format!("<p>{}</p>", escape(message)),
        form_origin,
    )
}

/// A page with the headers every authorization server page carries. `form_origin` is the
/// client's redirect origin, allowed as a form target (the 303 after the consent post).
pub(super) fn html(
    status: StatusCode,
    title: &str,
    body: &str,
    form_origin: Option<&str>,
) -> Response {
    let doc = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <link rel=\"stylesheet\" href=\"{CSS_PATH}\"></head><body><h1>{t}</h1>{body}</body></html>",
        t = escape(title)
    );
    // A redirect origin is a URL origin (no quotes, spaces or semicolons), safe in the policy.
    let form_action = match form_origin.filter(|o| {
        o.bytes()
            .all(|b| b.is_ascii_graphic() && b != b';' && b != b'\'')
    }) {
        Some(origin) => format!("'self' {origin}"),
        None => "'self'".to_owned(),
    };
    let csp = format!(
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action {form_action}; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    let mut response = (status, Html(doc)).into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    for (name, value) in [
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}
