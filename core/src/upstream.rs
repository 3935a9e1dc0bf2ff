//! The HTTP client [`crate::NexusClient::authenticated_fetch`] sends upstream requests with:
//! hyper's pooled client, writing every HTTP/1 header name exactly as the caller or the strategy
//! wrote it (`X-API-Key`, `x-goog-api-key`, `X-Custom-ID`), not in hyper's lower case or
//! reqwest's Title-Case (`X-Api-Key`). Upstreams and MCP servers that read a header from a
//! case-sensitive map find it.
//!
//! Why not reqwest (the gateway calls still use it): reqwest hands hyper a fresh request built
//! from its own parts, so nothing can reach hyper to say how a name is spelled; its
//! `http1_title_case_headers` is the only case it can write. hyper 1.x writes a request's names
//! in the case its `HeaderCaseMap` extension holds, but that type is crate-private: hyper only
//! creates one when it parses a message with `preserve_header_case`. So [`case_extensions`] has
//! hyper parse a header block that lists the names as written (over an in-memory pipe, no
//! socket) and the resulting extensions are moved onto the outgoing request. If a hyper release
//! stops honouring them, names degrade to Title-Case (never to anything invalid) and
//! `core/tests/header_case.rs` fails. A request whose names cannot be mapped (more than hyper's
//! 100 parsed headers) is sent in Title-Case.
//!
//! Kept from the reqwest client this replaces: rustls with the platform verifier and the same
//! crypto provider, ALPN h2 + http/1.1 (HTTP/2 names are lower case by definition), the pool
//! (90 s idle), TCP keepalive and nodelay, the connect and whole-request timeouts, the default
//! `User-Agent` and `Accept: */*`, and redirects (10 hops, the same method and body rules).
//! A request that a configured proxy (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`, minus
//! `NO_PROXY`) would intercept is not sent here: [`UpstreamClient::leaves_to_reqwest`] tells the
//! caller to use reqwest, which keeps its proxy tunnels and proxy authentication (names in
//! Title-Case); so does a URL with `user:password@`.
//! On a redirect to another origin the injected credential is not sent on (reqwest forwarded
//! every header except `Authorization`, `Cookie` and `Proxy-Authorization`), and no `Referer`
//! is added (it could carry a `query_param` credential to the other origin).

use crate::error::{NexusError, Result};
use crate::fetch::{FetchResponse, header_pairs};
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Extensions, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The most redirects followed (reqwest's default policy).
const MAX_REDIRECTS: usize = 10;

/// Headers dropped when a redirect leaves the origin, besides the injected credential.
const CROSS_ORIGIN_DROPPED: [&str; 5] = [
    "authorization",
    "cookie",
    "cookie2",
    "proxy-authorization",
    "www-authenticate",
];

/// See the module documentation.
pub(crate) struct UpstreamClient {
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    proxies: Matcher,
    user_agent: String,
    timeout: Duration,
}

/// One request to send: the prepared method, URL, headers (names as written) and body, and the
/// names of the headers the strategy injected (not forwarded to another origin).
pub(crate) struct Outgoing<'a> {
    pub method: Method,
    pub url: url::Url,
    pub headers: &'a [(String, String)],
    pub body: Option<Bytes>,
    pub injected: &'a [String],
}

impl UpstreamClient {
    pub(crate) fn new(user_agent: &str, timeout: Duration) -> Result<Self> {
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_keepalive(Some(Duration::from_secs(15)));
        tcp.set_connect_timeout(Some(timeout.min(Duration::from_secs(10))));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config()?)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(tcp);
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_timer(TokioTimer::new())
            // Names without a spelling in the case map (`Host`, `Content-Length`).
            .http1_title_case_headers(true)
            .build(connector);
        Ok(Self {
            http,
            proxies: Matcher::from_system(),
            user_agent: user_agent.to_owned(),
            timeout,
        })
    }

    /// Whether reqwest sends `url` instead: a configured proxy would intercept it, or it carries
    /// `user:password@` (reqwest turns that into basic authentication).
    pub(crate) fn leaves_to_reqwest(&self, url: &url::Url) -> bool {
        !url.username().is_empty()
            || url.password().is_some()
            || Uri::try_from(url.as_str()).is_ok_and(|uri| self.proxies.intercept(&uri).is_some())
    }

    /// Send `request`, follow redirects, read the whole answer; within the whole-request timeout.
    pub(crate) async fn fetch(&self, request: Outgoing<'_>) -> Result<FetchResponse> {
        match tokio::time::timeout(self.timeout, self.follow(request)).await {
            Ok(answer) => answer,
            Err(_) => Err(NexusError::Timeout(format!(
                "the upstream did not answer within {:?}",
                self.timeout
            ))),
        }
    }

    async fn follow(&self, request: Outgoing<'_>) -> Result<FetchResponse> {
        let Outgoing {
            mut method,
            mut url,
            headers,
            mut body,
            injected,
        } = request;
        let mut headers = with_defaults(headers, &self.user_agent);
        for _ in 0..=MAX_REDIRECTS {
            let response = self.send(&method, &url, &headers, body.clone()).await?;
            let Some(next) = redirect_target(&response, &url) else {
                return read(response).await;
            };
            match response.status() {
                StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND if method == Method::POST => {
                    method = Method::GET;
                    drop_payload(&mut headers, &mut body);
                }
                StatusCode::SEE_OTHER => {
                    if method != Method::HEAD {
                        method = Method::GET;
                    }
                    drop_payload(&mut headers, &mut body);
                }
                _ => {}
            }
            if next.origin() != url.origin() {
                let dropped = |name: &str| {
                    CROSS_ORIGIN_DROPPED
                        .iter()
                        .copied()
                        .chain(injected.iter().map(String::as_str))
                        .any(|dropped| dropped.eq_ignore_ascii_case(name))
                };
                headers.retain(|(name, _)| !dropped(name));
            }
            url = next;
        }
        Err(NexusError::Connect("too many redirects".into()))
    }

    async fn send(
        &self,
        method: &Method,
        url: &url::Url,
        headers: &[(String, String)],
        body: Option<Bytes>,
    ) -> Result<http::Response<hyper::body::Incoming>> {
        // The fragment is the client's, never sent.
        let uri = Uri::try_from(&url[..url::Position::AfterQuery])
            .map_err(|_| NexusError::InvalidRequest("the URL is not a valid request URI".into()))?;
        let mut request = Request::builder()
            .method(method.clone())
            .uri(uri)
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|_| NexusError::InvalidRequest("the request cannot be built".into()))?;
        *request.headers_mut() = header_map(headers)?;
        if let Some(spelling) = case_extensions(headers).await {
            request.extensions_mut().extend(spelling);
        }
        self.http
            .request(request)
            .await
            .map_err(|e| transport_error(&e))
    }
}

/// The caller's headers plus reqwest's defaults (`User-Agent`, `Accept: */*`) when absent.
fn with_defaults(headers: &[(String, String)], user_agent: &str) -> Vec<(String, String)> {
    let mut all = headers.to_vec();
    for (name, value) in [("User-Agent", user_agent), ("Accept", "*/*")] {
        if !all.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
            all.push((name.to_owned(), value.to_owned()));
        }
    }
    all
}

/// A redirect becoming a `GET`: no body, and none of the headers that described it.
fn drop_payload(headers: &mut Vec<(String, String)>, body: &mut Option<Bytes>) {
    *body = None;
    headers.retain(|(name, _)| {
        ![
            "content-type",
            "content-length",
            "content-encoding",
            "transfer-encoding",
        ]
        .iter()
        .any(|payload| payload.eq_ignore_ascii_case(name))
    });
}

/// Where a 301/302/303/307/308 answer sends the request, if it names an http(s) URL.
fn redirect_target<B>(response: &http::Response<B>, base: &url::Url) -> Option<url::Url> {
    if !matches!(
        response.status(),
        StatusCode::MOVED_PERMANENTLY
            | StatusCode::FOUND
            | StatusCode::SEE_OTHER
            | StatusCode::TEMPORARY_REDIRECT
            | StatusCode::PERMANENT_REDIRECT
    ) {
        return None;
    }
    let location = response.headers().get(header::LOCATION)?.to_str().ok()?;
    let next = base.join(location).ok()?;
    matches!(next.scheme(), "http" | "https").then_some(next)
}

async fn read(response: http::Response<hyper::body::Incoming>) -> Result<FetchResponse> {
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| transport_error(&e))?
        .to_bytes();
    let headers = header_pairs(&parts.headers);
    Ok(FetchResponse {
        status: parts.status.as_u16(),
        headers,
        body,
    })
}

/// Every value marked sensitive (it may be the injected credential).
pub(crate) fn header_map(headers: &[(String, String)]) -> Result<HeaderMap> {
    let mut map = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            NexusError::InvalidRequest(format!(
                "`{}` is not a valid header name",
                name.escape_debug()
            ))
        })?;
        let mut value = HeaderValue::from_str(value).map_err(|_| {
            NexusError::InvalidRequest(format!("header `{name}` has an invalid value"))
        })?;
        value.set_sensitive(true);
        map.append(name, value);
    }
    Ok(map)
}

/// Request extensions that make hyper write `headers`' names as spelled there: hyper parses
/// an answer listing those names (values left empty, so no secret is copied) with
/// `preserve_header_case`, and its extensions carry the spelling. `None` when hyper refuses
/// the block; the request then goes out in Title-Case.
async fn case_extensions(headers: &[(String, String)]) -> Option<Extensions> {
    let mut answer = b"HTTP/1.1 204 No Content\r\n".to_vec();
    for (name, _) in headers {
        // Framing headers are hyper's to write (and would be checked as framing here).
        if name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding")
        {
            continue;
        }
        answer.extend_from_slice(name.as_bytes());
        answer.extend_from_slice(b":\r\n");
    }
    answer.extend_from_slice(b"\r\n");
    let (ours, mut theirs) = tokio::io::duplex(answer.len().max(1024));
    let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
        .preserve_header_case(true)
        .handshake::<_, Empty<Bytes>>(TokioIo::new(ours))
        .await
        .ok()?;
    // Ends when both ends of the pipe are dropped (below).
    tokio::spawn(connection);
    // Answer only once the request is read: bytes before a request are an error to hyper.
    let respond = async {
        let mut seen = Vec::new();
        let mut buffer = [0u8; 64];
        while !seen.ends_with(b"\r\n\r\n") {
            let n = theirs.read(&mut buffer).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            seen.extend_from_slice(&buffer[..n]);
        }
        theirs.write_all(&answer).await
    };
    let (response, written) =
        tokio::join!(sender.send_request(Request::new(Empty::new())), respond);
    written.ok()?;
    Some(response.ok()?.into_parts().0.extensions)
}

/// A transport failure as a typed error: `timeout` when a timeout ended it, else `connect`.
/// The message chain names no URL (hyper's errors carry none).
fn transport_error(error: &(dyn std::error::Error + 'static)) -> NexusError {
    let mut message = error.to_string();
    let mut timed_out = false;
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        timed_out |= cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::TimedOut);
        source = cause.source();
    }
    if timed_out {
        NexusError::Timeout(message)
    } else {
        NexusError::Connect(message)
    }
}

/// rustls as the reqwest client has it: the installed default crypto provider (or aws-lc-rs
/// with the `tls` feature), the platform's verifier, TLS 1.2 and 1.3.
fn tls_config() -> Result<rustls::ClientConfig> {
    let provider = match rustls::crypto::CryptoProvider::get_default() {
        Some(provider) => provider.clone(),
        None => default_provider()?,
    };
    let verifier = rustls_platform_verifier::Verifier::new(provider.clone())
        .map_err(|e| NexusError::InvalidRequest(format!("cannot set up TLS: {e}")))?;
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| NexusError::InvalidRequest(format!("cannot set up TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

#[cfg(feature = "tls")]
fn default_provider() -> Result<Arc<rustls::crypto::CryptoProvider>> {
    Ok(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
}

#[cfg(not(feature = "tls"))]
fn default_provider() -> Result<Arc<rustls::crypto::CryptoProvider>> {
    Err(NexusError::InvalidRequest(
        "no rustls crypto provider is installed (enable the `tls` feature or install one)".into(),
    ))
}
