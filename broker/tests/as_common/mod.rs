//! Support for the authorization server tests (`as_*.rs`): a broker with the authorization
//! server set up for loopback, a registered MCP resource, a loopback HTTP server that serves
//! Client ID Metadata Documents (the draft's same-interface exception), PKCE, and the browser
//! walk (login, consent) driven over real HTTP.
#![allow(dead_code)]

use crate::common::{TestBroker, test_config};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;

pub const DEV_PASSWORD: &str = "dev-login-password-for-tests";
pub const RESOURCE: &str = "http://127.0.0.1:9/mcp";
pub const WS: &str = "acme";

/// The broker config used by these tests (loopback documents allowed, development login on).
pub fn as_config(db_url: &str) -> nexus_broker::BrokerConfig {
    let mut config = test_config(db_url);
    config.authorization_server.cimd_allow_loopback = true;
    config.authorization_server.dev_login_password = Some(DEV_PASSWORD.into());
    config.authorization_server.registrations_per_minute = 100;
    config.authorization_server.cimd_timeout = std::time::Duration::from_secs(2);
    config
}

/// A broker with workspace `acme` and the resource [`RESOURCE`] (scopes `notes:read`,
/// `notes:write`; default `notes:read`).
pub async fn as_broker(db_url: &str) -> TestBroker {
    let broker = TestBroker::start(as_config(db_url)).await;
    broker.create_workspace(WS).await;
    add_resource(&broker, WS, RESOURCE).await;
    broker
}

pub async fn add_resource(broker: &TestBroker, ws: &str, uri: &str) -> serde_json::Value {
    let (status, body) = TestBroker::send(
        broker
            .admin(
                reqwest::Method::POST,
                &format!("/admin/v1/workspaces/{ws}/mcp-resources"),
            )
            .json(&serde_json::json!({
                "resource_uri": uri, "name": "Notes",
                "scopes": ["notes:read", "notes:write"], "default_scopes": ["notes:read"]
            })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body
}

/// One document served by [`DocServer`].
#[derive(Clone)]
pub struct Doc {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
    /// Send the headers, then never finish the body.
    pub hang: bool,
    pub location: Option<String>,
}

impl Doc {
    pub fn json(value: &serde_json::Value) -> Self {
        Self {
            status: 200,
            content_type: "application/json".into(),
            body: serde_json::to_vec(value).unwrap(),
            hang: false,
            location: None,
        }
    }
}

/// A loopback HTTP server answering `GET /{name}` with the document stored under `name`.
pub struct DocServer {
    pub url: String,
    docs: Arc<Mutex<HashMap<String, Doc>>>,
    pub hits: Arc<Mutex<HashMap<String, usize>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DocServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type DocState = (
    Arc<Mutex<HashMap<String, Doc>>>,
    Arc<Mutex<HashMap<String, usize>>>,
);

async fn serve_doc(State((docs, hits)): State<DocState>, Path(name): Path<String>) -> Response {
    *hits.lock().entry(name.clone()).or_default() += 1;
    let Some(doc) = docs.lock().get(&name).cloned() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let body = if doc.hang {
        let first = futures::stream::once(async move { Ok::<_, std::io::Error>(doc.body) });
        Body::from_stream(futures::StreamExt::chain(first, futures::stream::pending()))
    } else {
        Body::from(doc.body)
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, doc.content_type.parse().unwrap());
    if let Some(location) = doc.location {
        headers.insert(header::LOCATION, location.parse().unwrap());
    }
    (StatusCode::from_u16(doc.status).unwrap(), headers, body).into_response()
}

impl DocServer {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let docs: Arc<Mutex<HashMap<String, Doc>>> = Arc::default();
        let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let app = axum::Router::new()
            .route("/{name}", axum::routing::get(serve_doc))
            .with_state((docs.clone(), hits.clone()));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url,
            docs,
            hits,
            task,
        }
    }

    /// Serve `doc` at `/{name}`; returns its URL.
    pub fn put(&self, name: &str, doc: Doc) -> String {
        self.docs.lock().insert(name.to_owned(), doc);
        format!("{}/{name}", self.url)
    }

    /// Serve a valid client document at `/{name}` with one redirect URI; returns the client id.
    pub fn client(&self, name: &str, redirect_uri: &str) -> String {
        let id = format!("{}/{name}", self.url);
        self.put(
            name,
            Doc::json(&serde_json::json!({
                "client_id": id, "client_name": "Test Client",
                "redirect_uris": [redirect_uri],
                "grant_types": ["authorization_code", "refresh_token"],
                "token_endpoint_auth_method": "none"
            })),
        )
    }
}

/// A PKCE verifier and its S256 challenge.
pub fn pkce() -> (String, String) {
    let verifier = URL_SAFE_NO_PAD.encode(rand_bytes());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn rand_bytes() -> [u8; 32] {
    let mut out = [0u8; 32];
    let id = uuid::Uuid::new_v4();
    let id2 = uuid::Uuid::new_v4();
    out[..16].copy_from_slice(id.as_bytes());
    out[16..].copy_from_slice(id2.as_bytes());
    out
}

/// The query of a valid authorization request.
pub fn authorize_query(
    client_id: &str,
    redirect_uri: &str,
    challenge: &str,
) -> Vec<(String, String)> {
    [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("resource", RESOURCE),
        ("scope", "notes:read"),
        ("state", "st-123"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

pub fn with(
    mut query: Vec<(String, String)>,
    key: &str,
    value: Option<&str>,
) -> Vec<(String, String)> {
    query.retain(|(k, _)| k != key);
    if let Some(v) = value {
        query.push((key.to_owned(), v.to_owned()));
    }
    query
}

pub fn encode(pairs: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// An answer as the browser sees it.
pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

pub async fn get(broker: &TestBroker, path_and_query: &str, cookie: Option<&str>) -> Answer {
    let mut req = broker.http.get(format!("{}{path_and_query}", broker.url));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    answer(req).await
}

pub async fn post_form(
    broker: &TestBroker,
    path: &str,
    form: &[(&str, &str)],
    cookie: Option<&str>,
    origin: Option<&str>,
) -> Answer {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let mut req = broker
        .http
        .post(format!("{}{path}", broker.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    answer(req).await
}

async fn answer(req: reqwest::RequestBuilder) -> Answer {
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let location = headers
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    Answer {
        status,
        location,
        headers,
        body: resp.text().await.unwrap(),
    }
}

/// The `value` of the hidden input `name` in a page.
pub fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {page}"))
        + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}

/// The query pairs of a URL.
pub fn query_of(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// Walk a browser through `/as/authorize` → development login as `user` → consent (Allow).
/// Returns the final redirect to the client and the login cookie.
pub async fn authorize_as(
    broker: &TestBroker,
    query: &[(String, String)],
    user: &str,
) -> (String, String) {
    let start = get(broker, &format!("/as/authorize?{}", encode(query)), None).await;
    assert_eq!(start.status, 303, "{}", start.body);
    let login_url = start.location.expect("redirect to login");
    assert!(
        login_url.starts_with(&format!("{}/as/login?request=", broker.url)),
        "{login_url}"
    );
    let login = get(broker, login_url.strip_prefix(&broker.url).unwrap(), None).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let (request, csrf) = (hidden(&login.body, "request"), hidden(&login.body, "csrf"));
    let logged_in = post_form(
        broker,
        "/as/login/dev",
        &[
            ("request", &request),
            ("csrf", &csrf),
            ("username", user),
            ("password", DEV_PASSWORD),
        ],
        None,
        Some(&broker.url),
    )
    .await;
    assert_eq!(logged_in.status, 303, "{}", logged_in.body);
    let set_cookie = logged_in
        .headers
        .get("set-cookie")
        .expect("cookie")
        .to_str()
        .unwrap();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let consent_url = logged_in.location.unwrap();
    let consent = get(
        broker,
        consent_url.strip_prefix(&broker.url).unwrap(),
        Some(&cookie),
    )
    .await;
    if consent.status == 303 {
        // Consent given before for these scopes: straight back to the client.
        return (consent.location.unwrap(), cookie);
    }
    assert_eq!(consent.status, 200, "{}", consent.body);
    let csrf = hidden(&consent.body, "csrf");
    let decided = post_form(
        broker,
        "/as/consent",
        &[
            ("request", &request),
            ("csrf", &csrf),
            ("decision", "allow"),
        ],
        Some(&cookie),
        Some(&broker.url),
    )
    .await;
    assert_eq!(decided.status, 303, "{}", decided.body);
    (decided.location.unwrap(), cookie)
}

/// `POST /as/token` with form pairs; (status, JSON body).
pub async fn token(broker: &TestBroker, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
    TestBroker::send(
        broker
            .http
            .post(format!("{}/as/token", broker.url))
            .form(form),
    )
    .await
}

/// A full authorization for a loopback document client; returns the token answer.
pub struct Authorized {
    pub client_id: String,
    pub redirect_uri: String,
    pub tokens: serde_json::Value,
}

pub async fn authorized_client(broker: &TestBroker, docs: &DocServer, name: &str) -> Authorized {
    let redirect_uri = "http://127.0.0.1:33333/callback".to_owned();
    let client_id = docs.client(name, &redirect_uri);
    let (verifier, challenge) = pkce();
    let (location, _) = authorize_as(
        broker,
        &authorize_query(&client_id, &redirect_uri, &challenge),
        "alice",
    )
    .await;
    let code = query_of(&location)["code"].clone();
    let (status, tokens) = token(
        broker,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect_uri),
            ("code_verifier", &verifier),
            ("client_id", &client_id),
            ("resource", RESOURCE),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    Authorized {
        client_id,
        redirect_uri,
        tokens,
    }
}

/// Create an agent of `ws` declaring `scopes`; its id.
pub async fn create_agent(broker: &TestBroker, ws: &str, scopes: &[&str]) -> String {
    let (status, body) = TestBroker::send(
        broker
            .admin(
                reqwest::Method::POST,
                &format!("/admin/v1/workspaces/{ws}/agents"),
            )
            .json(&serde_json::json!({"name": "delegate", "scopes": scopes})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["agent_id"].as_str().unwrap().to_owned()
}

/// Disable (`true`) or enable an agent through the admin API.
pub async fn set_agent_disabled(broker: &TestBroker, ws: &str, agent: &str, disabled: bool) {
    let verb = if disabled { "disable" } else { "enable" };
    let (status, body) = TestBroker::send(broker.admin(
        reqwest::Method::POST,
        &format!("/admin/v1/workspaces/{ws}/agents/{agent}/{verb}"),
    ))
    .await;
    assert_eq!(status, 200, "{body}");
}

/// The admin path of a client's agent binding (the client id is one encoded segment).
pub fn binding_path(ws: &str, client_id: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(client_id.as_bytes()).collect();
    format!("/admin/v1/workspaces/{ws}/mcp-clients/{encoded}/agent")
}

/// `PUT` the binding of `client_id` to `agent`; (status, body).
pub async fn bind(
    broker: &TestBroker,
    ws: &str,
    client_id: &str,
    agent: &str,
) -> (u16, serde_json::Value) {
    TestBroker::send(
        broker
            .admin(reqwest::Method::PUT, &binding_path(ws, client_id))
            .json(&serde_json::json!({"agent_id": agent})),
    )
    .await
}

/// The claims of a JWT, decoded without verification (the tests that use this are about
/// claims; `as_tokens` and `as_id_jag` verify signatures).
pub fn claims_of(jwt: &str) -> serde_json::Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}
