//! Browser-facing routes: the OAuth callback, re-authorization links, and the small form that
//! captures static credentials. Pages are minimal HTML with every dynamic value escaped.

use super::AppState;
use crate::error::ApiError;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use nexus_vault::connections::{CallbackOutcome, CallbackQuery};
use std::collections::HashMap;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/oauth/callback", get(callback))
        .route("/oauth/reauthorize/{token}", get(reauthorize))
        .route("/connect/{state}", get(show_form).post(submit_form))
}

async fn callback(
    State(s): State<AppState>,
    query: Result<Query<CallbackQuery>, QueryRejection>,
) -> Response {
    let q = query.map(|Query(q)| q).unwrap_or_default();
    outcome_response(s.vault.connections().oauth_callback(&q).await)
}

async fn reauthorize(State(s): State<AppState>, Path(token): Path<String>) -> Response {
    match s.vault.connections().start_reauthorize(&token).await {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(e) => page(StatusCode::BAD_REQUEST, "Re-authorization", &e.to_string()),
    }
}

async fn show_form(State(s): State<AppState>, Path(state): Path<String>) -> Response {
    match s.vault.connections().capture_form(&state).await {
        Ok(form) => {
            let inputs: String = form
                .fields
                .iter()
                .map(|f| {
                    let f = escape(f);
                    format!("<label>{f}<br><input type=\"password\" name=\"{f}\" autocomplete=\"off\" required></label><br>")
                })
                .collect();
            let body = format!(
                "<p>Enter the credentials for {}.</p><form method=\"post\">{inputs}<button type=\"submit\">Save</button></form>",
                escape(&form.display_name)
            );
            html(StatusCode::OK, "Connect", &body)
        }
        Err(e) => error_page(e.into()),
    }
}

async fn submit_form(
    State(s): State<AppState>,
    Path(state): Path<String>,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let fields = form.map(|Form(f)| f).unwrap_or_default();
    match s
        .vault
        .connections()
        .capture_credentials(&state, &fields)
        .await
    {
        Ok(captured) => outcome_response(match captured.redirect_url {
            Some(url) => CallbackOutcome::Redirect(url),
            None => CallbackOutcome::Page {
                ok: true,
                message: "Saved. You can close this window.".into(),
            },
        }),
        Err(e) => error_page(e.into()),
    }
}

fn outcome_response(outcome: CallbackOutcome) -> Response {
    match outcome {
        CallbackOutcome::Redirect(url) => Redirect::to(&url).into_response(),
        CallbackOutcome::Page { ok: true, message } => page(StatusCode::OK, "Connected", &message),
        CallbackOutcome::Page { ok: false, message } => {
            page(StatusCode::BAD_REQUEST, "Connection failed", &message)
        }
    }
}

fn error_page(e: ApiError) -> Response {
    page(e.status(), "Connection", &e.message)
}

fn page(status: StatusCode, title: &str, message: &str) -> Response {
    html(status, title, &format!("<p>{}</p>", escape(message)))
}

fn html(status: StatusCode, title: &str, body: &str) -> Response {
    let doc = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title></head><body><h1>{}</h1>{body}</body></html>",
        escape(title),
        escape(title)
    );
    // The page holds a one-time state in its URL: keep it out of caches and other sites.
    (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        Html(doc),
    )
        .into_response()
}

pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
