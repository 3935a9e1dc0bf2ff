//! Login at the authorization server through a workspace identity provider (design 17 §5.1):
//! `GET /as/login/idp/{idp_id}?request=` starts the OpenID Connect flow (binding cookie, 303 to
//! the provider), `GET /as/login/callback` finishes it, creates the login session and goes on
//! to the consent page. The rules are `nexus_vault::identity::idp_login`; here only cookies,
//! redirects and pages.

use super::pages::{
    cookie_name, page, query_value, read_cookie, see_other, set_login_cookie, status,
};
use super::pairs;
use crate::api::AppState;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::get;
use nexus_protocol::oauth;
use nexus_vault::authorization_server::AuthorizationServerService;
use nexus_vault::identity::idp_login::{AS_CALLBACK_PATH, FLOW_LIFETIME_MS, LoginPurpose};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/as/login/idp/{idp_id}", get(start))
        .route(AS_CALLBACK_PATH, get(callback))
}

/// The link that starts a login at `idp_id` for authorization request `request`.
pub fn start_path(idp_id: &str, request: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("request", request)
        .finish();
    format!("/as/login/idp/{idp_id}?{query}")
}

/// The cookie that binds a sign-in to the browser that started it (`SameSite=Lax`: the way
/// back from the provider is a cross-site top-level GET).
fn binding_cookie_name(server: &AuthorizationServerService) -> String {
    format!("{}_login", cookie_name(server))
}

fn cookie(server: &AuthorizationServerService, name: &str, value: &str, max_age: i64) -> String {
    let secure = if server.issuer().starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

fn with_cookies(mut response: Response, cookies: &[String]) -> Response {
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

async fn start(State(s): State<AppState>, Path(idp_id): Path<String>, uri: Uri) -> Response {
    let server = s.vault.authorization_server();
    let Some(request) = query_value(&uri, "request") else {
        return page(
            StatusCode::BAD_REQUEST,
            "Log in",
            "The request parameter is missing.",
            None,
        );
    };
    // The request names the workspace; only that workspace's providers log in to it.
    let view = match server.login_view(&request).await {
        Ok(view) => view,
        Err(e) => return page(status(e.status), "Log in", e.message, None),
    };
    let identity = s.vault.identity();
    let outcome = async {
        let idp = identity.login_provider(&view.workspace_id, &idp_id).await?;
        let redirect_uri = format!("{}{AS_CALLBACK_PATH}", server.issuer());
        identity
            .idp_login_start(
                &idp,
                LoginPurpose::Authorization {
                    request_id: request.clone(),
                },
                &redirect_uri,
            )
            .await
    }
    .await;
    match outcome {
        Ok(started) => with_cookies(
            see_other(&started.authorize_url),
            &[cookie(
                server,
                &binding_cookie_name(server),
                started.binding.expose(),
                FLOW_LIFETIME_MS / 1000,
            )],
        ),
        Err(e) => page(status(e.status()), "Log in", &e.to_string(), None),
    }
}

async fn callback(State(s): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    let server = s.vault.authorization_server();
    let query = pairs(uri.query().unwrap_or("").as_bytes());
    let binding_name = binding_cookie_name(server);
    let binding = read_cookie(&headers, &binding_name);
    let clear_binding = cookie(server, &binding_name, "", 0);
    let finished = s
        .vault
        .identity()
        .idp_login_finish(&query, binding.as_deref())
        .await;
    let (request_id, user) = match finished {
        Ok((LoginPurpose::Authorization { request_id }, user)) => (request_id, user),
        Ok((LoginPurpose::Console, _)) => {
            return page(
                StatusCode::BAD_REQUEST,
                "Log in",
                "This sign-in was started for the console, not here.",
                None,
            );
        }
        Err(e) => {
            let refused = page(status(e.status()), "Log in", &e.to_string(), None);
            return with_cookies(refused, &[clear_binding]);
        }
    };
    let session = server
        .idp_login_finished(
            &request_id,
            user.idp.workspace_id.as_str(),
            &user.idp.issuer,
            &user.claims.subject,
        )
        .await;
    let session = match session {
        Ok(c) => c,
        Err(e) => return page(status(e.status), "Log in", e.message, None),
    };
    let next = format!(
        "{}{}?{}",
        server.issuer(),
        oauth::CONSENT_PATH,
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("request", &request_id)
            .finish()
    );
    let login = set_login_cookie(server, &session);
    with_cookies(see_other(&next), &[login, clear_binding])
}
