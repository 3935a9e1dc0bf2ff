//! Rendering of the console's connection list: the filter form and one table row per
//! connection. Every value goes through `Esc`; nothing here reads a secret column.

use super::layout::Esc;
use nexus_vault::console::ConsoleFilter;
use nexus_vault::store::connections::ConnectionRow;
use nexus_vault::store::rfc3339;

/// Principals listed per row before "and n more".
const USED_BY_SHOWN: usize = 3;

/// The column headings, in the order of [`connection_row`]'s cells, each with the key its
/// cells carry (`<td data-col="…">`, which the browser tests read).
pub const HEADINGS: [(&str, &str); 11] = [
    ("Workspace", "workspace"),
    ("Provider", "provider"),
    ("User", "user"),
    ("Status", "status"),
    ("Health", "health"),
    ("Last refresh", "last-refresh"),
    ("Last error", "last-error"),
    ("Access expires", "expires"),
    ("Keep-alive", "keep-alive"),
    ("Used by (7 days)", "used-by"),
    ("Updated", "updated"),
];

fn text_filter(name: &str, label: &str, value: &Option<String>) -> String {
    format!(
        "<div><label for=\"f-{name}\">{label}</label><input type=\"text\" id=\"f-{name}\" name=\"{name}\" value=\"{}\"></div>",
        Esc(value.as_deref().unwrap_or(""))
    )
}

fn select_filter(name: &str, label: &str, options: &[&str], value: &Option<String>) -> String {
    let mut html = format!(
        "<div><label for=\"f-{name}\">{label}</label><select id=\"f-{name}\" name=\"{name}\" data-autosubmit>"
    );
    for option in std::iter::once(&"").chain(options) {
        let selected = if value.as_deref().unwrap_or("") == *option {
            " selected"
        } else {
            ""
        };
        let text = if option.is_empty() { "any" } else { option };
        html.push_str(&format!(
            "<option value=\"{option}\"{selected}>{text}</option>"
        ));
    }
    html.push_str("</select></div>");
    html
}

/// The filters: a plain GET form (works without JavaScript; the script submits a select).
pub fn filters_form(filter: &ConsoleFilter) -> String {
    let mut body = String::from(
        "<form method=\"get\" action=\"/console/connections\" class=\"filters\" role=\"search\">",
    );
    body.push_str(&text_filter("workspace", "Workspace", &filter.workspace_id));
    body.push_str(&text_filter("provider", "Provider", &filter.provider_name));
    body.push_str(&select_filter(
        "status",
        "Status",
        &["active", "needs_reauth", "failed", "pending", "revoked"],
        &filter.status,
    ));
    body.push_str(&select_filter(
        "health",
        "Health",
        &["ok", "failing", "needs_reauth"],
        &filter.health,
    ));
    body.push_str(&text_filter("user", "User", &filter.user_id));
    body.push_str("<div><button type=\"submit\">Filter</button></div></form>");
    body
}

fn when(v: Option<i64>) -> String {
    v.map(rfc3339).unwrap_or_else(|| "—".into())
}

/// Health with its failure count (`failing (3 in a row)`).
fn health_text(row: &ConnectionRow) -> String {
    match row.consecutive_failures {
        0 => row.health.as_str().to_owned(),
        n => format!("{} ({n} in a row)", row.health.as_str()),
    }
}

/// The last refresh failure: its typed code, the vault's reason (bounded; the vault never
/// writes a token into either) and when.
fn error_text(row: &ConnectionRow) -> String {
    let reason: String = row
        .last_error
        .as_deref()
        .unwrap_or("")
        .chars()
        .take(200)
        .collect();
    match (&row.last_error_code, reason.is_empty()) {
        (None, true) => "—".into(),
        (None, false) => reason,
        (Some(code), true) => format!("{code} at {}", when(row.last_error_at)),
        (Some(code), false) => format!("{code}: {reason} (at {})", when(row.last_error_at)),
    }
}

/// The keep-alive cell: when the worker last refreshed the connection and when it is next due
/// (`—` for a connection of a provider without a policy, or not yet scheduled).
fn keep_alive_text(row: &ConnectionRow) -> String {
    match (row.last_keepalive_at, row.next_keepalive_at) {
        (None, None) => "—".into(),
        (last, next) => format!(
            "last {} · next {}",
            last.map(rfc3339).unwrap_or_else(|| "never".into()),
            when(next)
        ),
    }
}

fn used_by_text(used_by: Option<&Vec<(String, i64)>>) -> String {
    let Some(list) = used_by.filter(|l| !l.is_empty()) else {
        return "—".into();
    };
    let mut text = list
        .iter()
        .take(USED_BY_SHOWN)
        .map(|(principal, _)| principal.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if list.len() > USED_BY_SHOWN {
        text.push_str(&format!(" and {} more", list.len() - USED_BY_SHOWN));
    }
    text
}

/// One `<tr>`; each cell carries its column name as a class (`data-col`) for the tests.
pub fn connection_row(row: &ConnectionRow, used_by: Option<&Vec<(String, i64)>>) -> String {
    let cells = [
        row.workspace_id.clone(),
        row.provider_name.clone(),
        row.user_id.clone().unwrap_or_else(|| "—".into()),
        row.status.as_str().to_owned(),
        health_text(row),
        when(row.last_refresh_at),
        error_text(row),
        when(row.access_expires_at),
        keep_alive_text(row),
        used_by_text(used_by),
        rfc3339(row.updated_at),
    ];
    let mut html = format!("<tr data-id=\"{}\">", Esc(&row.id));
    for ((_, col), cell) in HEADINGS.iter().zip(cells) {
        // The status stays bold (`.status`), as on the connect page.
        let class = if *col == "status" {
            " class=\"status\""
        } else {
            ""
        };
        html.push_str(&format!(
            "<td data-col=\"{col}\"{class}>{}</td>",
            Esc(&cell)
        ));
    }
    html.push_str("</tr>");
    html
}
