//! The connect page (design 18 §2): a person opens a signed link, continues on an interstitial
//! (link scanners only GET, so they cannot burn it), and then sees the providers of the link
//! with the status of their connection, connects (OAuth or a credential form), reconnects and
//! disconnects. Everything it decides is a `ConnectionService` call; this file renders.

use super::layout::{Esc, banner, csrf_input, document, message_page};
use super::security::{html_response, see_other};
use super::session::{
    Connect, CsrfForm, OriginForm, csrf_for, session, take_field, vault_error_page,
};
use crate::api::AppState;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use nexus_protocol::ConnectionStatus;
use nexus_vault::browser_sessions::BrowserSession;
use nexus_vault::connections::disconnect::Disconnected;
use nexus_vault::connections::links::{LinkError, RedeemError};
use nexus_vault::connections::page::{ConnectField, PageScope, ProviderCard, connect_fields};
use nexus_vault::connections::revocation::Revocation;
use nexus_vault::store::{now_ms, rfc3339};
use serde::Deserialize;

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
    let mut response = see_other("/connect");
    let set = s
        .web
        .cookies
        .set(Connect::COOKIE_NAME, cookie.expose(), "Lax", 2 * 3600);
    if let Ok(v) = HeaderValue::from_str(&set) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

/// What the callback appends to the page URL (`?provider=…&status=…&error=…`).
#[derive(Deserialize, Default)]
struct Outcome {
    provider: Option<String>,
    status: Option<String>,
    error: Option<String>,
    result: Option<String>,
}

/// `GET /connect`: the providers of this session and what can be done with each.
async fn show_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    query: Result<axum::extract::Query<Outcome>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let session = match session::<Connect>(&s, &headers).await {
        Ok(session) => session,
        Err(page) => return page,
    };
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

fn outcome_banner(o: &Outcome, cards: &[ProviderCard]) -> String {
    let label = o
        .provider
        .as_deref()
        .and_then(|p| cards.iter().find(|c| c.name == p))
        .map(|c| c.label.as_str());
    // Only known values reach the page: the label of a provider on it and a code's charset.
    let code: String = o
        .error
        .as_deref()
        .unwrap_or("unknown")
        .chars()
        .filter(|c| c.is_ascii_lowercase() || *c == '_')
        .take(40)
        .collect();
    match (o.status.as_deref().or(o.result.as_deref()), label) {
        (Some("success" | "saved"), Some(l)) => banner(true, &format!("Connected to {l}.")),
        (Some("error"), Some(l)) => banner(false, &format!("Connecting {l} failed ({code}).")),
        _ => String::new(),
    }
}

fn status_text(card: &ProviderCard) -> String {
    let Some(c) = &card.connection else {
        return "Not connected".into();
    };
    match c.status {
        ConnectionStatus::Active => match c.access_expires_at {
            Some(at) if card.oauth => format!("✓ Connected (token until {})", rfc3339(at)),
            _ => "✓ Connected".into(),
        },
        ConnectionStatus::NeedsReauth => "⚠ Needs reconnect".into(),
        ConnectionStatus::Failed => "✗ Failed (connect again)".into(),
        ConnectionStatus::Pending => "… Waiting for authorization".into(),
        ConnectionStatus::Revoked => "Disconnected".into(),
    }
}

fn post_button(action: &str, label: &str, csrf: &str, primary: bool) -> String {
    format!(
        "<form class=\"inline\" method=\"post\" action=\"{}\">{}<button type=\"submit\"{}>{}</button></form> ",
        Esc(action),
        csrf_input(csrf),
        if primary { " class=\"primary\"" } else { "" },
        Esc(label)
    )
}

fn card_row(card: &ProviderCard, csrf: &str) -> String {
    let status = card.connection.as_ref().map(|c| c.status);
    let live = matches!(
        status,
        Some(ConnectionStatus::Active | ConnectionStatus::NeedsReauth | ConnectionStatus::Failed)
    );
    let mut actions = String::new();
    let name = &card.name;
    match (card.oauth, status) {
        (true, Some(ConnectionStatus::NeedsReauth | ConnectionStatus::Failed)) => {
            let id = &card
                .connection
                .as_ref()
                .map(|c| c.id.clone())
                .unwrap_or_default();
            actions.push_str(&post_button(
                &format!("/connect/reconnect/{id}"),
                &format!("Reconnect {}", card.label),
                csrf,
                true,
            ));
        }
        (true, Some(ConnectionStatus::Active)) => {}
        (true, _) => actions.push_str(&post_button(
            &format!("/connect/oauth/{name}"),
            &format!("Connect {}", card.label),
            csrf,
            true,
        )),
        (false, Some(ConnectionStatus::Active)) => actions.push_str(&format!(
            "<a href=\"/connect/static/{}\">Replace the {} credential</a> ",
            Esc(name),
            Esc(&card.label)
        )),
        (false, _) => actions.push_str(&format!(
            "<a href=\"/connect/static/{}\">Connect {}</a> ",
            Esc(name),
            Esc(&card.label)
        )),
    }
    if live && let Some(c) = &card.connection {
        actions.push_str(&format!(
            "<a href=\"/connect/disconnect/{}\">Disconnect {}</a>",
            Esc(&c.id),
            Esc(&card.label)
        ));
    }
    format!(
        "<tr><th scope=\"row\">{}</th><td class=\"status\">{}</td><td>{actions}</td></tr>",
        Esc(&card.label),
        Esc(&status_text(card))
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

fn static_form_page(
    status: StatusCode,
    label: &str,
    provider: &str,
    fields: &[ConnectField],
    csrf: &str,
    error: Option<&str>,
    refill: &[(String, String)],
) -> Response {
    let mut body = error.map(|e| banner(false, e)).unwrap_or_default();
    body.push_str(&format!(
        "<p>Enter the credential Nexus should use for {}. Secret values are stored encrypted and never shown again.</p>\
         <form method=\"post\" action=\"/connect/static/{}\">{}",
        Esc(label),
        Esc(provider),
        csrf_input(csrf)
    ));
    for f in fields {
        let id = format!("field-{}", f.name);
        let input = if f.secret {
            format!(
                "<input type=\"password\" id=\"{id}\" name=\"{}\" required autocomplete=\"off\" spellcheck=\"false\" maxlength=\"4096\">",
                Esc(&f.name)
            )
        } else {
            // Text fields are refilled after an error; secret fields never are.
            let value = refill
                .iter()
                .find(|(k, _)| k == &f.name)
                .map(|(_, v)| v.as_str())
                .unwrap_or("");
            format!(
                "<input type=\"text\" id=\"{id}\" name=\"{}\" value=\"{}\" required autocomplete=\"off\" spellcheck=\"false\" maxlength=\"4096\">",
                Esc(&f.name),
                Esc(value)
            )
        };
        body.push_str(&format!(
            "<label for=\"{id}\">{}</label>{input}",
            Esc(&f.label)
        ));
    }
    body.push_str("<p><button type=\"submit\" class=\"primary\">Save</button> <a href=\"/connect\">Cancel</a></p></form>");
    html_response(status, document(&format!("Connect {label}"), &body), &[])
}

/// `GET /connect/static/{provider}`: the credential form.
async fn static_form(
    State(s): State<AppState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
) -> Response {
    let session = match session::<Connect>(&s, &headers).await {
        Ok(session) => session,
        Err(page) => return page,
    };
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
    headers: HeaderMap,
) -> Response {
    let session = match session::<Connect>(&s, &headers).await {
        Ok(session) => session,
        Err(page) => return page,
    };
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
            let body = format!(
                "{}<p><a href=\"/connect\">Back to your accounts</a></p>",
                banner(true, &disconnect_text(&done))
            );
            html_response(StatusCode::OK, document("Disconnected", &body), &[])
        }
        Err(e) => vault_error_page(e),
    }
}

/// What a person reads after a disconnect, per revocation outcome.
pub fn disconnect_text(d: &Disconnected) -> String {
    let p = &d.provider_label;
    let by_hand = match &d.manage_url {
        Some(url) => format!("remove Nexus's access at {url}"),
        None => format!("remove Nexus's access in your {p} settings"),
    };
    match &d.revocation {
        Revocation::Revoked => format!("Disconnected and revoked at {p}."),
        Revocation::Unsupported => {
            format!("Disconnected. {p} offers no way for Nexus to revoke its access: {by_hand}.")
        }
        Revocation::Failed { status, error } => {
            let why = match (status, error) {
                (Some(st), Some(e)) => format!("HTTP {st} {e}"),
                (Some(st), None) => format!("HTTP {st}"),
                _ => "no answer".into(),
            };
            format!("Disconnected. {p} did not confirm the revocation ({why}): {by_hand}.")
        }
    }
}

impl Connect {
    /// The cookie's base name (the `Kind` constant, for `Set-Cookie`).
    pub const COOKIE_NAME: &'static str = <Connect as super::session::Kind>::COOKIE;
}
