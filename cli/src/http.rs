//! A small JSON-over-HTTP client for the broker admin API and the gateway, which turns every
//! failure into a [`CliError`] with the right exit code and a hint.

use crate::error::{CliError, CliResult};
use nexus_protocol::{ErrorBody, SecretString};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::time::Duration;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Overall limit of a streamed answer ([`ApiClient::stream`]).
const STREAM_TIMEOUT: Duration = Duration::from_secs(6 * 3600);

/// What a request body is.
pub enum Body {
    None,
    Json(Value),
    /// Raw text with its content type (a providers YAML file).
    Text {
        content_type: &'static str,
        text: String,
    },
}

impl Body {
    /// A typed request body (a `nexus_protocol` type) as JSON.
    pub fn json<T: Serialize>(body: &T) -> CliResult<Self> {
        serde_json::to_value(body)
            .map(Body::Json)
            .map_err(|e| CliError::runtime(format!("cannot encode the request body: {e}")))
    }
}

/// An answer read as its protocol type. The message names a missing field but never quotes a
/// value (answers carry credentials).
pub fn parse_answer<T: DeserializeOwned>(answer: &Value, server: &str) -> CliResult<T> {
    T::deserialize(answer).map_err(|e| {
        let text = e.to_string();
        let what = if text.starts_with("missing field") {
            text
        } else {
            "a field has the wrong type or value".to_owned()
        };
        CliError::runtime(format!(
            "the {server}'s answer is not the expected {} ({what})",
            short_type_name::<T>()
        ))
    })
}

fn short_type_name<T>() -> &'static str {
    let name = std::any::type_name::<T>();
    name.rsplit("::").next().unwrap_or(name)
}

/// One server (broker or gateway) and the bearer credential we call it with.
pub struct ApiClient {
    http: reqwest::Client,
    base_url: String,
    token: SecretString,
    /// "broker" or "gateway", for messages.
    server: &'static str,
    /// "admin token" or "API key", for messages.
    credential: &'static str,
    /// What to tell the user when the server is not there.
    unreachable_hint: &'static str,
    /// What to tell the user when the credential is refused.
    rejected_hint: &'static str,
}

impl ApiClient {
    pub fn broker_admin(base_url: String, admin_token: SecretString) -> CliResult<Self> {
        Ok(Self {
            http: build_http()?,
            base_url,
            token: admin_token,
            server: "broker",
            credential: "admin token",
            unreachable_hint: "is `nexus dev` (or `nexus serve broker`) running? Check NEXUS_BROKER_URL or the home's dev.env",
            rejected_hint: "check NEXUS_ADMIN_TOKEN (or the home's dev.env) against the broker's admin token",
        })
    }

    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> CliResult<Value> {
        self.send(Method::GET, path, query, Body::None).await
    }

    pub async fn post(&self, path: &str, query: &[(&str, String)], body: Body) -> CliResult<Value> {
        self.send(Method::POST, path, query, body).await
    }

    /// Send one request and return its JSON body (`Null` when the body is empty).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Body,
    ) -> CliResult<Value> {
        let url = format!("{}{path}", self.base_url);
        let mut request = self
            .http
            .request(method, &url)
            .bearer_auth(self.token.expose());
        if !query.is_empty() {
            request = request.query(query);
        }
        request = attach_body(request, body);
        let response = request.send().await.map_err(|e| self.transport_error(e))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(e))?;
        if status.is_success() {
            return parse_success(&bytes, self.server);
        }
        Err(self.status_error(status, &bytes))
    }

    /// `GET` a streamed answer (the audit export) and hand each chunk to `sink` as it arrives,
    /// so nothing holds the whole body. The client's overall timeout is lifted to
    /// [`STREAM_TIMEOUT`] for this call: an export of a large log may take a while.
    pub async fn stream(
        &self,
        path: &str,
        query: &[(&str, String)],
        mut sink: impl FnMut(&[u8]) -> CliResult<()>,
    ) -> CliResult<()> {
        let url = format!("{}{path}", self.base_url);
        let mut request = self
            .http
            .get(&url)
            .bearer_auth(self.token.expose())
            .timeout(STREAM_TIMEOUT);
        if !query.is_empty() {
            request = request.query(query);
        }
        let mut response = request.send().await.map_err(|e| self.transport_error(e))?;
        let status = response.status();
        if !status.is_success() {
            let bytes = response
                .bytes()
                .await
                .map_err(|e| self.transport_error(e))?;
            return Err(self.status_error(status, &bytes));
        }
        while let Some(chunk) = response.chunk().await.map_err(|e| {
            CliError::runtime(format!(
                "the {} stopped sending before the end ({e}); the output may end with a partial line",
                self.server
            ))
        })? {
            sink(&chunk)?;
        }
        Ok(())
    }

    fn transport_error(&self, e: reqwest::Error) -> CliError {
        let reason = if e.is_timeout() {
            "timed out".to_owned()
        } else if e.is_connect() {
            "connection refused or host unreachable".to_owned()
        } else {
            // reqwest's Display includes the URL, which holds no secret (tokens go in headers).
            e.to_string()
        };
        CliError::Unreachable {
            what: self.server,
            url: self.base_url.clone(),
            reason,
            hint: self.unreachable_hint,
        }
    }

    fn status_error(&self, status: StatusCode, bytes: &[u8]) -> CliError {
        let (code, message) = match serde_json::from_slice::<ErrorBody>(bytes) {
            Ok(body) => (body.error.as_str().to_owned(), body.message),
            Err(_) => (
                status
                    .canonical_reason()
                    .unwrap_or("error")
                    .to_lowercase()
                    .replace(' ', "_"),
                snippet(bytes),
            ),
        };
        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
            && is_auth_failure(&code)
        {
            return CliError::Rejected {
                what: self.server,
                credential: self.credential,
                status: status.as_u16(),
                message,
                hint: self.rejected_hint,
            };
        }
        CliError::Api {
            what: self.server,
            status: status.as_u16(),
            code,
            message,
        }
    }
}

/// 401 always means our credential; a 403 `forbidden` means the credential may not do this.
/// Other 403 codes (`scope_not_allowed`, …) are about the request, not the credential.
fn is_auth_failure(code: &str) -> bool {
    matches!(code, "unauthorized" | "forbidden")
}

fn build_http() -> CliResult<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("nexus-cli/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| CliError::runtime(format!("cannot set up the HTTP client: {e}")))
}

fn attach_body(request: RequestBuilder, body: Body) -> RequestBuilder {
    match body {
        Body::None => request,
        Body::Json(value) => request.json(&value),
        Body::Text { content_type, text } => request
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(text),
    }
}

fn parse_success(bytes: &[u8], server: &str) -> CliResult<Value> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(bytes).map_err(|e| {
        CliError::runtime(format!(
            "the {server} sent a response that is not JSON: {e}"
        ))
    })
}

/// The start of a non-JSON error body, for the message (error bodies never carry secrets).
fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    if text.is_empty() {
        return "(no body)".to_owned();
    }
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> ApiClient {
        ApiClient::broker_admin("http://127.0.0.1:1".into(), "t".into()).unwrap()
    }

    #[test]
    fn unauthorized_is_a_rejection() {
        let err = client().status_error(
            StatusCode::UNAUTHORIZED,
            br#"{"error":"unauthorized","message":"bad admin token"}"#,
        );
        assert_eq!(err.exit_code(), 4);
        assert!(err.to_string().contains("bad admin token"));
    }

    #[test]
    fn other_errors_keep_their_code() {
        let err = client().status_error(
            StatusCode::NOT_FOUND,
            br#"{"error":"provider_not_found","message":"no provider `x`"}"#,
        );
        assert_eq!(err.exit_code(), 1);
        assert!(err.to_string().contains("provider_not_found"), "{err}");
        let plain = client().status_error(StatusCode::BAD_GATEWAY, b"upstream down");
        assert!(plain.to_string().contains("upstream down"), "{plain}");
    }

    #[test]
    fn answers_parse_into_protocol_types_without_quoting_values() {
        let key: nexus_protocol::admin::CreatedApiKey = parse_answer(
            &serde_json::json!({"key_id": "k", "api_key": "nxk_k_s", "created_at": "t"}),
            "broker",
        )
        .unwrap();
        assert_eq!(key.api_key.expose(), "nxk_k_s");
        let err = parse_answer::<nexus_protocol::admin::CreatedApiKey>(
            &serde_json::json!({"key_id": "k", "created_at": "t"}),
            "broker",
        )
        .unwrap_err();
        assert!(err.to_string().contains("missing field `api_key`"), "{err}");
        let err = parse_answer::<nexus_protocol::admin::RotateResponse>(
            &serde_json::json!({"active_key_id": "k", "reencrypted": "secret-ish"}),
            "broker",
        )
        .unwrap_err();
        assert!(!err.to_string().contains("secret-ish"), "{err}");
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable() {
        let closed = nexus_testkit::RefusingPort::new();
        let c = ApiClient::broker_admin(closed.http_url(), "t".into()).unwrap();
        let err = c.get("/admin/v1/providers", &[]).await.unwrap_err();
        assert_eq!(err.exit_code(), 3, "{err}");
    }
}
