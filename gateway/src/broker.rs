//! The client of the broker's internal API (`nexus_protocol::internal`).
//!
//! One pooled `reqwest::Client`, the internal token on every call, and one place that turns what
//! the broker answered into an [`ApiError`]:
//! - a broker error envelope with a 4xx status is the caller's problem and is passed through;
//! - the broker unreachable or timing out → 503 `upstream_unavailable`;
//! - a 5xx or an unreadable answer → 502 `upstream_unavailable` (never the caller's fault);
//! - a 401 on anything but key verification means *our* internal token was refused: a
//!   deployment mistake, reported as 502 and logged, never as the caller's 401.

use crate::error::{ApiError, GatewayError};
use crate::metrics::{BrokerErrorKind, Metrics};
use nexus_protocol::compat::{
    INTERNAL_REVOKE_SUFFIX, InternalRevokeConnection, RevokeConnectionResponse,
};
use nexus_protocol::connect_link::ConnectLinkResponse;
use nexus_protocol::internal::{
    CONNECT_LINKS_PATH, CONNECTIONS_PREFIX, EVENTS_PATH, INTERNAL_TOKEN_CHALLENGE,
    InternalConnectLink, InternalRequestConnection, InternalResolveRequest, Principal,
    REQUEST_CONNECTION_PATH, RESOLVE_PATH, VERIFY_API_KEY_PATH, VerifyKeyRequest,
    VerifyKeyResponse,
};
use nexus_protocol::{
    CheckConnectionResponse, ConnectionId, ErrorBody, RequestConnectionResponse, ResolveResponse,
    SecretString,
};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::HeaderValue;
use reqwest::{RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Duration;

/// Characters left as they are in a path segment (RFC 3986 unreserved).
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Header carrying the caller's request id to the broker (for its logs and audit records).
const REQUEST_ID_HEADER: &str = "x-request-id";

#[derive(Clone)]
pub struct BrokerClient {
    http: reqwest::Client,
    /// For the long-lived revocation stream: no whole-request timeout (the stream's own
    /// heartbeat detects a dead connection).
    events_http: reqwest::Client,
    base_url: String,
    internal_token: SecretString,
    metrics: Arc<Metrics>,
}

impl BrokerClient {
    pub fn new(
        base_url: &str,
        internal_token: SecretString,
        timeout: Duration,
        connect_timeout: Duration,
        metrics: Arc<Metrics>,
    ) -> Result<Self, GatewayError> {
        let tls = crate::tls::broker_client_config()
            .map_err(|e| GatewayError::InvalidConfig(format!("TLS for the broker client: {e}")))?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls.clone())
            // The internal API never redirects; the relayed OAuth callback's redirect is the
            // browser's to follow, not ours.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .map_err(GatewayError::HttpClient)?;
        let events_http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(connect_timeout)
            .build()
            .map_err(GatewayError::HttpClient)?;
        Ok(Self {
            http,
            events_http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            internal_token,
            metrics,
        })
    }

    /// `Ok(Some)` for a valid key, `Ok(None)` for an unknown or revoked one.
    /// `client_ip`: who presented the key, so a refused key is recorded against them.
    pub async fn verify_api_key(
        &self,
        key: &SecretString,
        client_ip: Option<std::net::IpAddr>,
        request_id: &str,
    ) -> Result<Option<VerifyKeyResponse>, ApiError> {
        let body = VerifyKeyRequest {
            key: key.clone(),
            client_ip,
        };
        let request = self.http.post(self.url(VERIFY_API_KEY_PATH)).json(&body);
        match self.send(request, request_id).await {
            Ok(verified) => Ok(Some(verified)),
            Err(Failure::Refused(status, _)) if status == StatusCode::UNAUTHORIZED => Ok(None),
            // Kept as before: the caller sees a refused key; `/readyz` reports the cause.
            Err(Failure::InternalTokenRefused) => Ok(None),
            Err(failure) => Err(self.api_error_for(failure, "verify API key")),
        }
    }

    pub async fn resolve(
        &self,
        request: &InternalResolveRequest,
    ) -> Result<ResolveResponse, ApiError> {
        let request_id = request.request_id.as_deref().unwrap_or_default();
        let http = self.http.post(self.url(RESOLVE_PATH)).json(request);
        self.call(http, request_id, "resolve")
            .await
            .map(for_clients)
    }

    /// Store a batch of proxied-call audit records (`crate::proxy::audit`).
    pub async fn append_proxy_audit(
        &self,
        records: &[nexus_protocol::proxy::ProxyAuditRecord],
    ) -> Result<(), ApiError> {
        /// The wire form of `ProxyAuditBatch`, borrowing the records (no copy of the batch).
        #[derive(serde::Serialize)]
        struct Batch<'a> {
            records: &'a [nexus_protocol::proxy::ProxyAuditRecord],
        }
        let body = Batch { records };
        let http = self
            .http
            .post(self.url(nexus_protocol::proxy::AUDIT_BATCH_PATH))
            .json(&body);
        self.call::<serde_json::Value>(http, "", "proxy audit")
            .await
            .map(|_| ())
    }

    pub async fn request_connection(
        &self,
        request: &InternalRequestConnection,
    ) -> Result<RequestConnectionResponse, ApiError> {
        let request_id = request.request_id.as_deref().unwrap_or_default();
        let http = self
            .http
            .post(self.url(REQUEST_CONNECTION_PATH))
            .json(request);
        self.call(http, request_id, "request connection").await
    }

    pub async fn connect_link(
        &self,
        request: &InternalConnectLink,
    ) -> Result<ConnectLinkResponse, ApiError> {
        let request_id = request.request_id.as_deref().unwrap_or_default();
        let http = self.http.post(self.url(CONNECT_LINKS_PATH)).json(request);
        self.call(http, request_id, "connect link").await
    }

    pub async fn check_connection(
        &self,
        principal: &Principal,
        connection_id: &ConnectionId,
        request_id: &str,
    ) -> Result<CheckConnectionResponse, ApiError> {
        let url = self.connection_url(principal, connection_id, "");
        self.call(self.http.get(url), request_id, "check connection")
            .await
    }

    pub async fn connection_token(
        &self,
        principal: &Principal,
        connection_id: &ConnectionId,
        request_id: &str,
    ) -> Result<ResolveResponse, ApiError> {
        let url = self.connection_url(principal, connection_id, "/token");
        self.call(self.http.get(url), request_id, "connection token")
            .await
            .map(for_clients_only)
    }

    pub async fn refresh_connection(
        &self,
        principal: &Principal,
        connection_id: &ConnectionId,
        request_id: &str,
    ) -> Result<ResolveResponse, ApiError> {
        let url = self.connection_url(principal, connection_id, "/refresh");
        self.call(self.http.post(url), request_id, "refresh connection")
            .await
            .map(for_clients_only)
    }

    /// `GET` one of the broker's internal endpoints for the original clients
    /// (`nexus_protocol::compat`).
    pub async fn compat_get<T: DeserializeOwned>(
        &self,
        path: &str,
        request_id: &str,
        what: &'static str,
    ) -> Result<T, ApiError> {
        self.call(self.http.get(self.url(path)), request_id, what)
            .await
    }

    /// `POST` counterpart of [`Self::compat_get`].
    pub async fn compat_post<B: serde::Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        request_id: &str,
        what: &'static str,
    ) -> Result<T, ApiError> {
        let request = self.http.post(self.url(path)).json(body);
        self.call(request, request_id, what).await
    }

    pub async fn revoke_connection(
        &self,
        request: &InternalRevokeConnection,
        connection_id: &ConnectionId,
        request_id: &str,
    ) -> Result<RevokeConnectionResponse, ApiError> {
        let url = self.connection_url(&request.principal, connection_id, INTERNAL_REVOKE_SUFFIX);
        self.call(
            self.http.post(url).json(request),
            request_id,
            "revoke connection",
        )
        .await
    }

    /// The broker's `GET /oauth/callback` with `query` as it came (a browser route: no internal
    /// token, and its redirect is passed on, not followed).
    pub async fn relay_callback(&self, query: Option<&str>) -> Result<reqwest::Response, ApiError> {
        let mut url = self.url("/oauth/callback");
        if let Some(query) = query {
            url.push('?');
            url.push_str(query);
        }
        self.http
            .get(url)
            .send()
            .await
            .map_err(|err| self.api_error_for(Failure::Unreachable(err), "relay OAuth callback"))
    }

    /// Ready when the broker's `/readyz` answers 2xx **and** the broker accepts our internal
    /// token. The second check matters because a refused token is otherwise indistinguishable,
    /// at key verification, from a caller's unknown key (both are 401). It asks for a connection
    /// that cannot exist: 404 proves the token is accepted, 401 proves it is not.
    pub async fn ready(&self, request_id: &str) -> Result<(), ApiError> {
        let response = self
            .http
            .get(self.url("/readyz"))
            .send()
            .await
            .map_err(|err| self.api_error_for(Failure::Unreachable(err), "readiness check"))?;
        if !response.status().is_success() {
            return Err(ApiError::unavailable(format!(
                "broker not ready (status {})",
                response.status().as_u16()
            )));
        }
        let probe = Principal::ApiKey {
            workspace_id: "readiness-probe".into(),
            key_id: "readiness-probe".into(),
        };
        let probe_id = ConnectionId::new("readiness-probe").expect("a valid connection id");
        let url = self.connection_url(&probe, &probe_id, "");
        match self
            .send::<CheckConnectionResponse>(self.http.get(url), request_id)
            .await
        {
            Ok(_) => Ok(()),
            Err(Failure::InternalTokenRefused)
            | Err(Failure::Refused(StatusCode::UNAUTHORIZED, _)) => {
                self.metrics.broker_error(BrokerErrorKind::InternalAuth);
                tracing::error!("readiness: the broker refused the gateway's internal token");
                Err(ApiError::unavailable(
                    "the broker refused the gateway's internal token (check NEXUS_INTERNAL_TOKEN)",
                ))
            }
            Err(Failure::Refused(status, _)) if status.is_client_error() => Ok(()),
            Err(failure) => Err(self.api_error_for(failure, "readiness check")),
        }
    }

    /// Agent-identity calls (`nexus_protocol::identity`): like the calls above, except that a
    /// 401 is the caller's credential (agent credential, session or user token) being refused
    /// and is passed through. The broker's refusal of *our* internal token
    /// ([`Failure::InternalTokenRefused`]) stays a 502.
    pub async fn identity_post<B: serde::Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        request_id: &str,
        what: &'static str,
    ) -> Result<T, ApiError> {
        let request = self.http.post(self.url(path)).json(body);
        self.identity_send(request, request_id, what).await
    }

    /// GET counterpart of [`Self::identity_post`].
    pub async fn identity_get<T: DeserializeOwned>(
        &self,
        path: &str,
        request_id: &str,
        what: &'static str,
    ) -> Result<T, ApiError> {
        let request = self.http.get(self.url(path));
        self.identity_send(request, request_id, what).await
    }

    async fn identity_send<T: DeserializeOwned>(
        &self,
        request: RequestBuilder,
        request_id: &str,
        what: &'static str,
    ) -> Result<T, ApiError> {
        match self.send(request, request_id).await {
            Ok(value) => Ok(value),
            Err(Failure::Refused(status, mut body)) if status == StatusCode::UNAUTHORIZED => {
                body.request_id = None;
                Err(ApiError { status, body })
            }
            Err(failure) => Err(self.api_error_for(failure, what)),
        }
    }

    /// Opens `GET /internal/v1/events`; the caller reads it line by line
    /// ([`crate::revocation_feed`]). The error is a reason for the log.
    pub async fn open_events(&self) -> Result<reqwest::Response, String> {
        let response = self
            .events_http
            .get(self.url(EVENTS_PATH))
            .bearer_auth(self.internal_token.expose())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(format!("the broker answered {}", response.status()))
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// `…/workspaces/{ws}/connections/{id}{suffix}`, segments percent-encoded so that a caller's
    /// id can never change the path (the handlers also validate ids before getting here).
    fn connection_url(
        &self,
        principal: &Principal,
        connection_id: &ConnectionId,
        suffix: &str,
    ) -> String {
        format!(
            "{}{CONNECTIONS_PREFIX}/{}/connections/{}{suffix}",
            self.base_url,
            utf8_percent_encode(principal.workspace_id(), PATH_SEGMENT),
            utf8_percent_encode(connection_id.as_str(), PATH_SEGMENT),
        )
    }

    async fn call<T: DeserializeOwned>(
        &self,
        request: RequestBuilder,
        request_id: &str,
        what: &'static str,
    ) -> Result<T, ApiError> {
        self.send(request, request_id)
            .await
            .map_err(|failure| self.api_error_for(failure, what))
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: RequestBuilder,
        request_id: &str,
    ) -> Result<T, Failure> {
        let mut request = request.bearer_auth(self.internal_token.expose());
        if !request_id.is_empty() {
            request = request.header(REQUEST_ID_HEADER, request_id);
        }
        let response = request.send().await.map_err(Failure::Unreachable)?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED
            && response.headers().get(reqwest::header::WWW_AUTHENTICATE)
                == Some(&HeaderValue::from_static(INTERNAL_TOKEN_CHALLENGE))
        {
            return Err(Failure::InternalTokenRefused);
        }
        let bytes = response.bytes().await.map_err(Failure::Unreachable)?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|_| Failure::Unreadable(status));
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => Err(Failure::Refused(status, Box::new(body))),
            Err(_) => Err(Failure::Unreadable(status)),
        }
    }

    fn api_error_for(&self, failure: Failure, what: &'static str) -> ApiError {
        match failure {
            Failure::Unreachable(err) => {
                self.metrics.broker_error(BrokerErrorKind::Unreachable);
                // reqwest errors name the URL, never the bearer token.
                tracing::warn!(call = what, error = %err, "broker unreachable");
                ApiError::unavailable("the credential broker is unreachable; retry later")
            }
            Failure::Unreadable(status) => {
                self.metrics.broker_error(BrokerErrorKind::BadResponse);
                tracing::error!(
                    call = what,
                    status = status.as_u16(),
                    "unreadable broker response"
                );
                ApiError::bad_gateway("the credential broker sent an unreadable response")
            }
            Failure::InternalTokenRefused | Failure::Refused(StatusCode::UNAUTHORIZED, _) => {
                self.metrics.broker_error(BrokerErrorKind::InternalAuth);
                tracing::error!(
                    call = what,
                    "the broker refused the gateway's internal token"
                );
                ApiError::bad_gateway("the gateway is misconfigured (broker refused it)")
            }
            Failure::Refused(status, mut body) if status.is_client_error() => {
                body.request_id = None;
                ApiError { status, body }
            }
            Failure::Refused(status, mut body) => {
                self.metrics.broker_error(BrokerErrorKind::ServerError);
                tracing::warn!(call = what, status = status.as_u16(), code = %body.error, "broker error");
                if matches!(status.as_u16(), 502..=504) {
                    // A provider behind the broker failed: its message is meant for the caller.
                    body.request_id = None;
                    ApiError { status, body }
                } else {
                    ApiError::bad_gateway("the credential broker failed; retry later")
                }
            }
        }
    }
}

/// Every credential leaves the gateway in the form clients read (effective strategy, `scope`;
/// see `nexus_protocol::effective`). A stored strategy the protocol rejects is sent as it is,
/// so the SDK reports its own typed strategy error; the broker validates providers on write,
/// so this is logged as the server fault it is.
/// [`for_clients`] for answers that go straight to a client: without the proxy settings.
pub(crate) fn for_clients_only(response: ResolveResponse) -> ResolveResponse {
    let mut response = for_clients(response);
    response.proxy = None;
    response
}

fn for_clients(mut response: ResolveResponse) -> ResolveResponse {
    if let Err(err) = response.for_clients() {
        tracing::error!(
            provider = response.provider.as_deref().unwrap_or_default(),
            error = %err,
            "a stored strategy is invalid; sent as stored"
        );
    }
    response
}

/// What went wrong talking to the broker, before it is turned into an [`ApiError`].
enum Failure {
    /// No answer: connection refused, timeout, reset.
    Unreachable(reqwest::Error),
    /// An answer that is not the expected JSON.
    Unreadable(StatusCode),
    /// The broker refused the gateway's own internal token (marked by
    /// [`INTERNAL_TOKEN_CHALLENGE`], not by a caller's credential).
    InternalTokenRefused,
    /// A well-formed error envelope.
    Refused(StatusCode, Box<ErrorBody>),
}
