//! The warm `GET /v1/resolve`, answered from the request's head before the router
//! ([`crate::Gateway::front`], served by `nexus_listener`), or where the request enters the
//! middleware ([`crate::middleware::Edge`]) when the gateway is served without its front,
//! instead of through the handler.
//!
//! Why it exists: a resolve whose API key and token are both cached is the gateway's hottest
//! request, and its own work (SHA-256 of the key, two cache lookups, the rate limit, the bytes
//! of the answer) is a small part of what it cost in the handler: the request-id extension, the
//! per-request timeout timer, the task-local workspace slot, axum's extractors and the boxed
//! futures around them cost more (issue 20; `BENCHMARKS.md`). None of those is needed by an
//! answer that cannot wait, so this path answers synchronously and the middleware returns a
//! ready future.
//!
//! The rules are not copied: the key, the verdict, the workspace rule, the rate limit, the token
//! and its rendering are the same functions the handler ([`crate::routes::resolve`]) and its
//! extractor ([`crate::auth::SharedCaller`]) call. The order keeps the answers identical:
//! everything that can decline (the key, the query, a cache that does not answer at once, a
//! session, another workspace, a token too short-lived, `force_refresh`) is looked at before
//! anything is counted or charged, so a declined request goes through the handler exactly as if
//! this path did not exist (it costs one more SHA-256 and lookup). Once both caches answer, the
//! request is this path's: the key cache hit is counted, the rate limit charged (429 with
//! `Retry-After`, as the extractor answers), then the token hit counted and rendered.
//!
//! Revocation needs nothing here: the revocation feed empties the key and token caches (and a
//! verdict remembered by the connection goes with them, [`crate::caller_memo`]), and a key the
//! cache holds as refused is declined (the handler answers its 401).

use crate::Gateway;
use crate::access_log::Workspace;
use crate::auth::api_key_str;
use crate::caller_memo::CallerMemo;
use crate::query::parse_resolve_args;
use crate::routes::{paths, private_json_bytes, resolve::check_workspace};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use std::time::Instant;

/// Whether a request with this method and URI is one this path may answer: what every other
/// request is told at once, before any of the work done for a warm one (limits, clock).
pub(crate) fn wants(gateway: &Gateway, method: &Method, uri: &Uri) -> bool {
    gateway.inner.config.warm_resolve && method == Method::GET && uri.path() == paths::RESOLVE
}

/// The answer to the request with this head and the caller's workspace (for the access line),
/// or `None` when the handler must answer (see the module docs). `now` is when the request
/// arrived; `memo` finds the caller's key verdict ([`CallerMemo`]).
pub(crate) fn answer(
    gateway: &Gateway,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    now: Instant,
    memo: &mut CallerMemo,
) -> Option<(Response, Workspace)> {
    let inner = &gateway.inner;
    if !wants(gateway, method, uri) {
        return None;
    }
    let key = api_key_str(headers).ok()?;
    let args = parse_resolve_args(uri.query()).ok()?;
    let principal = memo.caller(&inner.keys, key, now)?;
    check_workspace(principal, &args).ok()?;
    let hit = inner.tokens.peek(&args, now)?;

    // Taken: from here on, what the handler would do with the same verdict and token.
    let principal = inner.keys.accept(Some(principal)).ok()?;
    let workspace = Workspace::new(principal.workspace_id());
    let answer = inner
        .rate_limiter
        .check(principal)
        .and_then(|()| inner.tokens.serve(hit));
    inner.metrics.warm_resolve();
    let response = match answer {
        Ok(bytes) => private_json_bytes(bytes),
        Err(refused) => refused.into_response(),
    };
    Some((response, workspace))
}
