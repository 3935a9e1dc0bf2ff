//! The connect page (design 18 §2): a person opens a signed link, continues on an interstitial
//! (link scanners only GET, so they cannot burn it), and then sees the providers of the link
//! with the status of their connection, connects (OAuth or a credential form), reconnects and
//! disconnects. Everything it decides is a `ConnectionService` call; this file renders.

use super::connect_view::{
    Outcome, card_row, disconnect_text, outcome_banner, post_button, static_form_page,
};
use super::layout::{Esc, banner, document, message_page};
use super::security::{html_response, see_other, with_cookie};
use super::session::{
    Connect, CsrfForm, OriginForm, PageSession, csrf_for, take_field, vault_error_page,
};
use crate::api::AppState;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use nexus_protocol::internal::RevocationEvent;
use nexus_vault::browser_sessions::BrowserSession;
use nexus_vault::connections::links::{LinkError, RedeemError};
use nexus_vault::connections::page::{PageScope, connect_fields};
use nexus_vault::store::{now_ms, rfc3339};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/connect", get(show_page))
        .route("/connect/l/{token}", get(interstitial))
        .route("/connect/redeem", post(redeem))
        .route("/connect/oauth/{provider}", post(start_oauth))
        .route(
            "/connect/static/{provider}",
            get(static_form).post(save_static),
        )
        .route("/connect/reconnect/{id}", post(reconnect))
        .route(
            "/connect/disconnect/{id}",
            get(confirm_disconnect).post(disconnect),
        )
}

fn scope(session: &BrowserSession) -> PageScope<'_> {
    PageScope {
        workspace_id: session.workspace_id.as_deref().unwrap_or_default(),
        user_id: session.user_id.as_deref(),
        providers: &session.providers,
    }
}

fn link_error_page(e: LinkError) -> Response {
    let (status, text) = match e {
        LinkError::Invalid => (
            StatusCode::BAD_REQUEST,
            "This connect link is not valid. Ask for a new one.",
        ),
        LinkError::Expired => (
            StatusCode::GONE,
            "This connect link has expired. Ask for a new one.",
        ),
        LinkError::AlreadyUsed => (
            StatusCode::GONE,
            "This connect link was already used. Ask for a new one.",
        ),
    };
    message_page(status, "Connect link", &format!("{text} ({})", e.code()))
}

/// `GET /connect/l/{token}`: check the link, offer to continue. Nothing is consumed here.
async fn interstitial(State(s): State<AppState>, Path(token): Path<String>) -> Response {
    let claims = match s.vault.connections().open_connect_link(&token, now_ms()) {
        Ok(c) => c,
        Err(e) => return link_error_page(e),
    };
    let who = match &claims.u {
        Some(u) => format!(" (user <strong>{}</strong>)", Esc(u)),
        None => String::new(),
    };
    let body = format!(
        "<p>Connect accounts for workspace <strong>{ws}</strong>{who}.</p>\
         <form method=\"post\" action=\"/connect/redeem\">\
         <input type=\"hidden\" name=\"token\" value=\"{token}\">\
         <button type=\"submit\" class=\"primary\">Continue</button></form>\
         <p class=\"muted\">This link works once and expires at {exp}.</p>",
        ws = Esc(&claims.w),
        token = Esc(&token),
        exp = Esc(&rfc3339(claims.e)),
    );
    html_response(
        StatusCode::OK,
        document("Connect your accounts", &body),
        &[],
    )
}

/// `POST /connect/redeem`: use the link, open a session, leave the token out of the address bar.
async fn redeem(State(s): State<AppState>, mut form: OriginForm) -> Response {
    let token = take_field(&mut form.fields, "token").unwrap_or_default();
    let now = now_ms();
    let claims = match s.vault.connections().redeem_connect_link(&token, now).await {
        Ok(c) => c,
        Err(RedeemError::Link(e)) => return link_error_page(e),
        Err(RedeemError::Vault(e)) => return vault_error_page(e),
    };
    let (cookie, _) = match s.vault.browser_sessions().start_connect(&claims, now).await {
        Ok(started) => started,
        Err(e) => return vault_error_page(e),
    };
    let set = s
        .web
        .cookies
        .set(Connect::COOKIE_NAME, cookie.expose(), "Lax", 2 * 3600);
    with_cookie(see_other("/connect"), &set)
}

/// `GET /connect`: the providers of this session and what can be done with each.
async fn show_page(
    State(s): State<AppState>,
    PageSession(session, _): PageSession<Connect>,
    query: Result<axum::extract::Query<Outcome>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let outcome = query.map(|q| q.0).unwrap_or_default();
    let scope = scope(&session);
    let cards = match s.vault.connections().page_cards(&scope).await {
        Ok(cards) => cards,
        Err(e) => return vault_error_page(e),
    };
    let csrf = csrf_for(&s, &session);
    let mut body = outcome_banner(&outcome, &cards);
    body.push_str(
        "<table><caption class=\"muted\">Your accounts</caption><thead><tr>\
         <th scope=\"col\">Service</th><th scope=\"col\">Status</th><th scope=\"col\">Actions</th></tr></thead><tbody>",
    );
    for card in &cards {
        body.push_str(&card_row(card, &csrf));
    }
    if cards.is_empty() {
        body.push_str("<tr><td colspan=\"3\">No services are offered on this page.</td></tr>");
    }
    body.push_str("</tbody></table>");
    let origins = s.vault.connections().authorize_origins(&cards).await;
    html_response(
        StatusCode::OK,
        document("Connect your accounts", &body),
        &origins,
    )
}

/// The page the OAuth callback returns to, naming the provider for the banner.
fn return_url(s: &AppState, provider: &str) -> String {
    let mut url = format!("{}/connect", s.web.public_url);
    url.push_str("?provider=");
    url.extend(url::form_urlencoded::byte_serialize(provider.as_bytes()));
    url
}

/// `POST /connect/oauth/{provider}` → 303 to the provider's authorize URL.
async fn start_oauth(
    State(s): State<AppState>,
    Path(provider): Path<String>,
    form: CsrfForm<Connect>,
) -> Response {
    let scope = scope(&form.session);
    match s
        .vault
        .connections()
        .page_start_oauth(&scope, &provider, &return_url(&s, &provider))
        .await
    {
        Ok(url) => see_other(&url),
        Err(e) => vault_error_page(e),
    }
}

/// `POST /connect/reconnect/{id}` → 303 to the provider, same connection.
async fn reconnect(
    State(s): State<AppState>,
    Path(id): Path<String>,
    form: CsrfForm<Connect>,
) -> Response {
    let scope = scope(&form.session);
    let provider = match s.vault.connections().page_connection(&scope, &id).await {
        Ok(row) => row.provider_name,
        Err(e) => return vault_error_page(e),
    };
    match s
        .vault
        .connections()
        .page_reconnect(&scope, &id, &return_url(&s, &provider))
        .await
    {
        Ok(url) => see_other(&url),
        Err(e) => vault_error_page(e),
    }
}

/// `GET /connect/static/{provider}`: the credential form.
async fn static_form(
    State(s): State<AppState>,
    Path(provider): Path<String>,
    PageSession(session, _): PageSession<Connect>,
) -> Response {
    let scope = scope(&session);
    let (p, label) = match s.vault.connections().page_provider(&scope, &provider).await {
        Ok(found) => found,
        Err(e) => return vault_error_page(e),
    };
    match connect_fields(&p) {
        Ok(fields) if !p.is_oauth2() => static_form_page(
            StatusCode::OK,
            &label,
            &p.name,
            &fields,
            &csrf_for(&s, &session),
            None,
            &[],
        ),
        Ok(_) => message_page(
            StatusCode::BAD_REQUEST,
            "Cannot do that",
            "This provider connects through OAuth.",
        ),
        Err(e) => vault_error_page(e),
    }
}

/// `POST /connect/static/{provider}`: save, or show the form again with the reason.
async fn save_static(
    State(s): State<AppState>,
    Path(provider): Path<String>,
    form: CsrfForm<Connect>,
) -> Response {
    let scope = scope(&form.session);
    let (p, label) = match s.vault.connections().page_provider(&scope, &provider).await {
        Ok(found) => found,
        Err(e) => return vault_error_page(e),
    };
    match s
        .vault
        .connections()
        .page_save_static(&scope, &p.name, &form.fields)
        .await
    {
        Ok(()) => see_other(&format!(
            "/connect?provider={}&result=saved",
            url::form_urlencoded::byte_serialize(p.name.as_bytes()).collect::<String>()
        )),
        Err(nexus_vault::VaultError::InvalidInput(reason)) => {
            let fields = connect_fields(&p).unwrap_or_default();
            static_form_page(
                StatusCode::BAD_REQUEST,
                &label,
                &p.name,
                &fields,
                &csrf_for(&s, &form.session),
                Some(&reason),
                &form.fields,
            )
        }
        Err(e) => vault_error_page(e),
    }
}

/// `GET /connect/disconnect/{id}`: confirm.
async fn confirm_disconnect(
    State(s): State<AppState>,
    Path(id): Path<String>,
    PageSession(session, _): PageSession<Connect>,
) -> Response {
    let row = match s
        .vault
        .connections()
        .page_connection(&scope(&session), &id)
        .await
    {
        Ok(row) => row,
        Err(e) => return vault_error_page(e),
    };
    let body = format!(
        "<p>Disconnect <strong>{}</strong>? Agents will no longer be able to use it. Nexus also asks the \
         service to revoke its access where the service supports that.</p>{}<p><a href=\"/connect\">Keep it</a></p>",
        Esc(&row.provider_name),
        post_button(
            &format!("/connect/disconnect/{id}"),
            "Disconnect",
            &csrf_for(&s, &session),
            true
        )
    );
    html_response(StatusCode::OK, document("Disconnect", &body), &[])
}

/// `POST /connect/disconnect/{id}`: disconnect (revoking at the provider where it can) and say how it went.
async fn disconnect(
    State(s): State<AppState>,
    Path(id): Path<String>,
    form: CsrfForm<Connect>,
) -> Response {
    let scope = scope(&form.session);
    let caller = nexus_vault::Caller {
        principal: format!("connect_page:{}", scope.user_id.unwrap_or("-")),
        request_id: None,
    };
    match s.vault.connections().page_connection(&scope, &id).await {
        Ok(_) => {}
        Err(e) => return vault_error_page(e),
    }
    match s
        .vault
        .connections()
        .disconnect(scope.workspace_id, scope.user_id, &id, &caller)
        .await
    {
        Ok(done) => {
            // Like every other revocation: the gateways drop their cached tokens now, or agents
            // would go on resolving the revoked access token until the cache's TTL.
            s.revocations
                .publish(
                    s.vault.store(),
                    RevocationEvent::ConnectionRevoked {
                        workspace_id: scope.workspace_id.to_owned(),
                        connection_id: id.clone(),
                    },
                )
                .await;
            let body = format!(
                "{}<p><a href=\"/connect\">Back to your accounts</a></p>",
                banner(true, &disconnect_text(&done))
            );
            html_response(StatusCode::OK, document("Disconnected", &body), &[])
        }
        Err(e) => vault_error_page(e),
    }
}

impl Connect {
    /// The cookie's base name (the `Kind` constant, for `Set-Cookie`).
    pub const COOKIE_NAME: &'static str = <Connect as super::session::Kind>::COOKIE;
}
