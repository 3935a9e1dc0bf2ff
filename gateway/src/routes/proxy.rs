//! `/v1/proxy/{workspace_id}/{provider_name}/{path…}` (every method): forward the caller's
//! request to the provider's API with the credential injected, and stream the answer back.
//! The rules are in [`crate::proxy`]; this is the order they run in (design 16 §1).

use crate::Gateway;
use crate::auth::Caller;
use crate::error::{ApiError, PendingError};
use crate::metrics::ProxyRetry;
use crate::middleware::RequestId;
use crate::proxy::audit::{CallFacts, Outcome};
use crate::proxy::body::{MeteredResponse, RequestMeter, limited_request};
use crate::proxy::path::{NormalPath, check_query, normalise};
use crate::proxy::tokens::TokenRequest;
use crate::proxy::{CallLimits, Target, headers, throttle};
use axum::Extension;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use nexus_protocol::internal::Principal;
use nexus_protocol::proxy::{GATEWAY_ERROR_HEADER, PROXY_HOST_HEADER, PROXY_PREFIX, ProxyConfig};
use nexus_protocol::proxy_rules::ProxyCall;
use nexus_protocol::{ErrorCode, ProviderName, WorkspaceId};
use nexus_sdk::strategy::{BodyNeed, body_need};
use nexus_sdk::{CachedToken, RequestParts};
use std::sync::Arc;
use std::time::Instant;

/// Marks a response that is the upstream's answer: the error renderer leaves it as it is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UpstreamAnswer;

/// The request body as it will be sent: whole (replayable) or a one-shot stream.
enum OutBody {
    Whole(Bytes),
    Stream(Option<Body>),
}

pub async fn proxy(
    State(gateway): State<Gateway>,
    Caller(principal): Caller,
    Extension(request_id): Extension<RequestId>,
    request: Request,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let method = parts.method.clone();
    if method == Method::CONNECT || method == Method::TRACE {
        return Err(ApiError::with_status(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::InvalidRequest,
            "CONNECT and TRACE are not proxied",
        ));
    }
    if parts.headers.contains_key(header::UPGRADE) {
        return Err(ApiError::invalid_request(
            "protocol upgrades are not proxied; use the bridge for WebSockets",
        ));
    }
    let (workspace_id, provider_name, tail) = split_path(parts.uri.path())?;
    if !matches!(principal, Principal::Session { .. })
        && workspace_id.as_str() != principal.workspace_id()
    {
        return Err(ApiError::forbidden(
            "this API key does not belong to that workspace",
        ));
    }
    // Checked before any broker call (encoded slashes are judged again with the provider's rule).
    let lenient_path = normalise(tail, true).map_err(path_error)?;
    let query = parts.uri.query();
    if let Some(q) = query {
        check_query(q).map_err(path_error)?;
    }
    let limits_cap = &gateway.inner.config.proxy;
    let declared = declared_length(&parts.headers)?;
    if declared.is_some_and(|len| len > limits_cap.max_body) {
        return Err(too_large(limits_cap.max_body));
    }

    let token_request = TokenRequest {
        principal: principal.clone(),
        workspace_id: workspace_id.to_string(),
        provider_name: provider_name.to_string(),
        request_id: request_id.as_str().to_owned(),
        call: session_call(&principal, &method, &parts.headers, &lenient_path),
    };
    let tokens = &gateway.inner.tokens;
    let mut token = tokens.proxy_token(&token_request).await?;
    // The settings and strategy of the first token hold for the whole call (a refreshed token
    // after a 401 carries the same provider's); borrowed from it, not copied per call.
    let first = token.clone();
    let config = first.proxy_config();
    let base_url = match first.api_base_url() {
        Some(url) if ProxyConfig::is_enabled(config, Some(url)) => url,
        _ => {
            return Err(ApiError::new(
                ErrorCode::ProxyNotEnabled,
                "this provider has no api_base_url or its proxy is off",
            ));
        }
    };
    let allow_encoded_slash = config.is_some_and(|c| c.allow_encoded_slash);
    let path = normalise(tail, allow_encoded_slash).map_err(path_error)?;
    let wanted_host = match parts.headers.get(PROXY_HOST_HEADER) {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| {
            ApiError::new(
                ErrorCode::ProxyHostNotAllowed,
                "Nexus-Proxy-Host is not ASCII",
            )
        })?),
    };
    let target = Target::choose(base_url, config, wanted_host)?;
    let limits = limits_cap.for_provider(config);
    if declared.is_some_and(|len| len > limits.max_body) {
        return Err(too_large(limits.max_body));
    }
    let url = target.url(&path, query, tail.len())?;
    let forwarded = headers::request_headers(&parts.headers);
    let strategy = first.strategy().map_err(strategy_error)?;
    let meter = Arc::new(RequestMeter::default());
    let mut out_body = plan_body(
        body,
        strategy,
        &forwarded,
        &parts.headers,
        declared,
        &limits,
        &meter,
    )
    .await?;

    // The record's place in the audit queue, taken before anything is forwarded.
    let audit_slot = gateway.inner.proxy_audit.reserve().await?;
    let mut facts = CallFacts::new(&principal, &token_request, &method, &target, &path, started);
    let call = Call {
        client: &gateway.inner.proxy_client,
        method: &method,
        url: &url,
        incoming: &parts.headers,
        meter: &meter,
        limits: &limits,
    };
    let mut response = call.send(&mut out_body, &token, Some(forwarded)).await;
    if let Ok(answer) = &response
        && nexus_sdk::policy::is_rejection(answer.status().as_u16())
    {
        // The credential was refused: replace it (one forced refresh for all concurrent
        // callers), then retry once if the body can be sent again.
        let rejected = token.clone();
        token = tokens
            .proxy_replace_rejected(&token_request, &rejected)
            .await?;
        if let OutBody::Whole(_) = out_body {
            facts.retried_401 = true;
            gateway.inner.metrics.proxy_retry(ProxyRetry::Unauthorized);
            response = call.send(&mut out_body, &token, None).await;
        }
    }
    if let Some(policy) = config.and_then(|c| c.retry_on_throttle.as_ref()) {
        // A throttled answer is waited out only with a replayable body, a short Retry-After and
        // a free waiter permit; otherwise it is the caller's answer. The wait is part of this
        // handler's future: a caller that goes away (or the route's deadline) cancels it.
        let waiters = &gateway.inner.proxy_retry_waiters;
        while i64::from(facts.throttle_retries) < policy.max_attempts
            && matches!(out_body, OutBody::Whole(_))
        {
            let Ok(answer) = &response else { break };
            let wait = throttle::wait_before_retry(
                policy,
                answer.status(),
                answer.headers(),
                chrono::Utc::now(),
            );
            let Some(wait) = wait else { break };
            let Ok(_permit) = waiters.try_acquire() else {
                break;
            };
            // Release the throttled answer's connection before waiting.
            drop(response);
            tokio::time::sleep(wait).await;
            facts.throttle_retries += 1;
            gateway.inner.metrics.proxy_retry(ProxyRetry::Throttled);
            response = call.send(&mut out_body, &token, None).await;
        }
    }
    facts.bytes_in = meter.bytes();
    let mut answer = match response {
        Ok(answer) => answer,
        Err(err) => {
            audit_slot.record(facts.finish(
                0,
                Outcome::GatewayError,
                Some(err.body.error.as_str()),
                0,
            ));
            return Err(err);
        }
    };
    facts.latency_ms = started.elapsed().as_millis() as u64;
    let status = answer.status();
    // The upstream's own map, filtered in place (the body does not read it: its length comes
    // from the body's size hint).
    let mut response_headers = std::mem::take(answer.headers_mut());
    headers::strip_response_headers(&mut response_headers);
    let body = MeteredResponse::new(
        answer,
        limits_cap.max_response_body,
        Box::new(move |bytes_out, end| {
            let outcome = Outcome::from_end(end, status.as_u16());
            audit_slot.record(facts.finish(status.as_u16(), outcome, None, bytes_out));
        }),
    );
    let mut response = Response::new(Body::from_stream(body));
    *response.status_mut() = status;
    *response.headers_mut() = response_headers;
    response.extensions_mut().insert(UpstreamAnswer);
    Ok(response)
}

/// What the vault checks against the provider's `proxy.rules` for an agent session (API keys
/// are not subject to rules). The host is the caller's `Nexus-Proxy-Host`, checked against
/// `allowed_hosts` later; a non-ASCII one matches no rule and is refused there.
fn session_call(
    principal: &Principal,
    method: &Method,
    headers: &HeaderMap,
    path: &NormalPath,
) -> Option<ProxyCall> {
    matches!(principal, Principal::Session { .. }).then(|| ProxyCall {
        method: method.as_str().to_owned(),
        host: headers
            .get(PROXY_HOST_HEADER)
            .map(|h| String::from_utf8_lossy(h.as_bytes()).to_ascii_lowercase()),
        path: path.decoded_segments(),
    })
}

/// `{ws}/{provider}{tail}` from the raw path (never percent-decoded: ids are unreserved
/// characters only, and the tail goes to the normaliser as sent).
fn split_path(raw: &str) -> Result<(WorkspaceId, ProviderName, &str), ApiError> {
    let rest = raw.strip_prefix(PROXY_PREFIX).unwrap_or_default();
    let (ws, rest) = rest.split_once('/').unwrap_or((rest, ""));
    let (provider, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let ws = WorkspaceId::new(ws).map_err(|e| ApiError::invalid_request(e.to_string()))?;
    let provider =
        ProviderName::new(provider).map_err(|e| ApiError::invalid_request(e.to_string()))?;
    Ok((ws, provider, tail))
}

fn declared_length(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    match headers.get(header::CONTENT_LENGTH) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|v| v.parse().ok())
            .map(Some)
            .ok_or_else(|| ApiError::invalid_request("invalid Content-Length")),
    }
}

/// Read the body whole when a signing strategy needs it or it is small enough to replay;
/// otherwise stream it.
async fn plan_body(
    body: Body,
    strategy: &nexus_protocol::Strategy,
    forwarded: &HeaderMap,
    incoming: &HeaderMap,
    declared: Option<u64>,
    limits: &CallLimits,
    meter: &Arc<RequestMeter>,
) -> Result<OutBody, ApiError> {
    let signed = body_need(strategy, forwarded) == BodyNeed::Full;
    let no_body = declared.is_none() && !incoming.contains_key(header::TRANSFER_ENCODING);
    let replayable = no_body || declared.is_some_and(|len| len <= limits.replay_buffer);
    if !signed && !replayable {
        return Ok(OutBody::Stream(Some(body)));
    }
    let limit = if signed {
        limits.max_buffered_body.min(limits.max_body)
    } else {
        limits.replay_buffer
    };
    let bytes = axum::body::to_bytes(body, usize::try_from(limit).unwrap_or(usize::MAX))
        .await
        .map_err(|_| {
            if signed {
                ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    format!(
                        "the signing strategy reads the whole body; the limit is {limit} bytes"
                    ),
                )
            } else {
                ApiError::invalid_request("could not read the request body")
            }
        })?;
    meter.add(bytes.len() as u64);
    Ok(OutBody::Whole(bytes))
}

/// What stays the same between the first attempt and the retries (after a 401 or a throttle).
struct Call<'a> {
    client: &'a reqwest::Client,
    method: &'a Method,
    url: &'a reqwest::Url,
    /// The caller's headers: a retry filters them again (the first send injects into the
    /// filtered map it is given, so that map is not copied for a retry that rarely comes).
    incoming: &'a HeaderMap,
    meter: &'a Arc<RequestMeter>,
    limits: &'a CallLimits,
}

impl Call<'_> {
    /// Inject the credential and send once, with `forwarded` (the caller's headers as
    /// forwarded; `None`: filtered again). The strategy sees the exact bytes of a whole body
    /// and the URL as it is sent.
    async fn send(
        &self,
        body: &mut OutBody,
        token: &CachedToken,
        forwarded: Option<HeaderMap>,
    ) -> Result<reqwest::Response, ApiError> {
        let (method, url, limits) = (self.method, self.url, self.limits);
        let mut headers = forwarded.unwrap_or_else(|| headers::request_headers(self.incoming));
        let strategy = token.strategy().map_err(strategy_error)?;
        let signed_headers = match strategy {
            nexus_protocol::Strategy::AwsSigV4 { .. } => header_list(&headers)?,
            _ => Vec::new(),
        };
        let whole: &[u8] = match body {
            OutBody::Whole(bytes) => bytes,
            OutBody::Stream(_) => b"",
        };
        let parts = RequestParts {
            method: method.as_str(),
            url: url.as_str(),
            headers: &signed_headers,
            body: whole,
        };
        let injection = nexus_sdk::apply(strategy, token.credentials(), &parts, chrono::Utc::now())
            .map_err(strategy_error)?;
        injection
            .apply_to_header_map(&mut headers)
            .map_err(strategy_error)?;
        let out = match body {
            OutBody::Whole(bytes) => reqwest::Body::from(bytes.clone()),
            OutBody::Stream(stream) => {
                let stream = stream.take().unwrap_or_default();
                reqwest::Body::wrap_stream(limited_request(
                    stream,
                    limits.max_body,
                    self.meter.clone(),
                ))
            }
        };
        // Unchanged by the strategy (all but `query_param`): the URL already parsed.
        let target = if injection.url == url.as_str() {
            url.clone()
        } else {
            reqwest::Url::parse(&injection.url).map_err(|_| {
                ApiError::bad_gateway("the credential cannot be injected: the URL is not valid")
            })?
        };
        let request = self
            .client
            .request(method.clone(), target)
            .headers(headers)
            .body(out)
            .send();
        match tokio::time::timeout(limits.timeout, request).await {
            Err(_) => Err(ApiError::new(
                ErrorCode::UpstreamTimeout,
                format!(
                    "the upstream sent no response headers within {} ms",
                    limits.timeout.as_millis()
                ),
            )),
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) if self.meter.over_limit() => Err(too_large(limits.max_body)),
            // Never the error's text: it names the URL, whose query may carry a credential.
            Ok(Err(err)) => Err(ApiError::bad_gateway(if err.is_connect() {
                "could not connect to the upstream"
            } else {
                "the upstream failed before answering"
            })),
        }
    }
}

/// The forwarded headers as text, for SigV4 (which signs them).
fn header_list(headers: &HeaderMap) -> Result<Vec<(String, String)>, ApiError> {
    headers
        .iter()
        .map(|(n, v)| {
            v.to_str()
                .map(|v| (n.as_str().to_owned(), v.to_owned()))
                .map_err(|_| {
                    ApiError::invalid_request(format!(
                        "header `{n}` is not text and cannot be signed"
                    ))
                })
        })
        .collect()
}

fn path_error(err: crate::proxy::path::PathError) -> ApiError {
    ApiError::new(ErrorCode::InvalidProxyPath, err.to_string())
}

fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("request body exceeds the proxy limit of {limit} bytes"),
    )
}

/// A credential the strategy cannot use: the message names the field, never a value.
fn strategy_error(err: nexus_sdk::NexusError) -> ApiError {
    ApiError::bad_gateway(format!("the credential cannot be injected: {err}"))
}

/// Layer of the proxy routes: the gateway's own answers carry `Nexus-Error: <code>`, so a
/// caller can tell them from the upstream's (whose `Nexus-*` headers are stripped).
pub async fn mark_gateway_errors(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let code = response
        .extensions()
        .get::<PendingError>()
        .map(|pending| pending.0.error.as_str().to_owned());
    if let Some(code) = code
        && let Ok(value) = HeaderValue::from_str(&code)
    {
        let headers = response.headers_mut();
        headers.insert(GATEWAY_ERROR_HEADER, value);
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The proxy's whole-request deadline (to response headers; the body streams after it): a
/// backstop for anything without a bound of its own, never shorter than what the call's parts
/// may take by their own bounds, so it cannot cut a call those allowed. See [`route_deadline`].
pub async fn deadline(State(gateway): State<Gateway>, request: Request, next: Next) -> Response {
    let cap = route_deadline(&gateway.inner.config);
    match tokio::time::timeout(cap, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(ErrorCode::UpstreamTimeout, "the proxied call took too long")
            .into_response(),
    }
}

/// The sum of the bounds of one proxied call before its response headers: two broker calls
/// (the token, and the forced refresh after a 401), the wait for an audit slot, every send to
/// the upstream (the first, the 401 retry and up to [`MAX_THROTTLE_ATTEMPTS`] throttle
/// retries, each within `proxy.max_timeout`), and the throttle waits between them (each at
/// most [`MAX_THROTTLE_DELAY_MS`]). The provider's own settings are not known to the layer
/// (they come with the token), so the gateway-wide caps are used: a provider's lower ones end
/// the call earlier through the handler's own timers.
pub fn route_deadline(config: &crate::GatewayConfig) -> std::time::Duration {
    use nexus_protocol::proxy::{MAX_THROTTLE_ATTEMPTS, MAX_THROTTLE_DELAY_MS};
    let retries = u32::try_from(MAX_THROTTLE_ATTEMPTS).unwrap_or(0);
    let waits = std::time::Duration::from_millis(u64::try_from(MAX_THROTTLE_DELAY_MS).unwrap_or(0))
        * retries;
    config.broker_timeout * 2
        + crate::proxy::audit::RESERVE_WAIT
        + config.proxy.max_timeout * (2 + retries)
        + waits
}
