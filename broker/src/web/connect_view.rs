//! What the connect page renders: the outcome banner, one table row per provider, the static
//! credential form and the text after a disconnect. Pure functions of vault answers.

use super::layout::{Esc, banner, csrf_input, document};
use super::security::html_response;
use axum::http::StatusCode;
use axum::response::Response;
use nexus_protocol::ConnectionStatus;
use nexus_vault::connections::disconnect::Disconnected;
use nexus_vault::connections::page::{ConnectField, ProviderCard};
use nexus_vault::connections::revocation::Revocation;
use nexus_vault::store::rfc3339;
use serde::Deserialize;

/// What the callback appends to the page URL (`?provider=…&status=…&error=…`).
#[derive(Deserialize, Default)]
pub struct Outcome {
    provider: Option<String>,
    status: Option<String>,
    error: Option<String>,
    result: Option<String>,
}

pub fn outcome_banner(o: &Outcome, cards: &[ProviderCard]) -> String {
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

pub fn post_button(action: &str, label: &str, csrf: &str, primary: bool) -> String {
    format!(
        "<form class=\"inline\" method=\"post\" action=\"{}\">{}<button type=\"submit\"{}>{}</button></form> ",
        Esc(action),
        csrf_input(csrf),
        if primary { " class=\"primary\"" } else { "" },
        Esc(label)
    )
}

pub fn card_row(card: &ProviderCard, csrf: &str) -> String {
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

pub fn static_form_page(
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
