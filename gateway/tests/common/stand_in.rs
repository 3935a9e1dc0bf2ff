//! A small loopback stand-in for the broker's internal API (`nexus_protocol::internal`), with
//! just enough behaviour for the gateway's tests: API keys that can be revoked, two providers, a
//! token counter so a new broker call is visible in the token it returns.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use nexus_protocol::internal::{
    InternalRequestConnection, InternalResolveRequest, VerifyKeyRequest, VerifyKeyResponse,
};
use nexus_protocol::{
    CheckConnectionResponse, ConnectionStatus, ErrorBody, ErrorCode, RequestConnectionResponse,
    ResolveResponse, SecretString, StrategySpec,
};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::net::TcpListener;

pub struct StandInBroker {
    pub url: String,
    state: Arc<BrokerState>,
}

struct BrokerState {
    internal_token: String,
    /// key → (workspace, key id, revoked)
    keys: Mutex<HashMap<String, (String, String, bool)>>,
    tokens_issued: AtomicUsize,
}

impl StandInBroker {
    pub async fn start(internal_token: &str) -> Self {
        let state = Arc::new(BrokerState {
            internal_token: internal_token.to_owned(),
            keys: Mutex::new(HashMap::new()),
            tokens_issued: AtomicUsize::new(0),
        });
        let router = Router::new()
            .route("/internal/v1/api-keys/verify", post(verify))
            .route("/internal/v1/resolve", post(resolve))
            .route("/internal/v1/request-connection", post(request_connection))
            .route(
                "/internal/v1/workspaces/{ws}/connections/{id}",
                get(check_connection),
            )
            .route(
                "/internal/v1/workspaces/{ws}/connections/{id}/token",
                get(connection_token),
            )
            .route(
                "/internal/v1/workspaces/{ws}/connections/{id}/refresh",
                post(connection_token),
            )
            .route(
                "/readyz",
                get(|| async { Json(serde_json::json!({"status": "ready"})) }),
            )
            .with_state(state.clone());
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind stand-in");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { url, state }
    }

    /// A new API key for `workspace`: `(key, key_id)`.
    pub async fn new_key(&self, workspace: &str) -> (String, String) {
        let mut keys = self.state.keys.lock();
        let key_id = format!("k{}", keys.len() + 1);
        let key = format!("nxk_{workspace}_{key_id}_secret");
        keys.insert(key.clone(), (workspace.to_owned(), key_id.clone(), false));
        (key, key_id)
    }

    pub async fn revoke_key(&self, _workspace: &str, key_id: &str) {
        for entry in self.state.keys.lock().values_mut() {
            if entry.1 == key_id {
                entry.2 = true;
            }
        }
    }

    /// A connection for `provider` in `workspace` (the stand-in knows `github` and `static-api`).
    pub async fn add_connection(&self, _workspace: &str, _provider: &str) -> String {
        "conn1".to_owned()
    }
}

fn error(status: StatusCode, code: ErrorCode, message: &str) -> Response {
    (status, Json(ErrorBody::new(code, message))).into_response()
}

fn authorized(state: &BrokerState, headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok())
        == Some(format!("Bearer {}", state.internal_token).as_str())
}

async fn verify(
    State(state): State<Arc<BrokerState>>,
    headers: HeaderMap,
    Json(body): Json<VerifyKeyRequest>,
) -> Response {
    if !authorized(&state, &headers) {
        return error(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            "bad internal token",
        );
    }
    match state.keys.lock().get(body.key.expose()) {
        Some((workspace_id, key_id, false)) => Json(VerifyKeyResponse {
            workspace_id: workspace_id.clone(),
            key_id: key_id.clone(),
        })
        .into_response(),
        _ => error(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            "unknown or revoked API key",
        ),
    }
}

fn token(state: &BrokerState, provider: &str) -> Option<ResolveResponse> {
    let n = state.tokens_issued.fetch_add(1, Ordering::SeqCst) + 1;
    let (expires_in, strategy) = match provider {
        "github" => (Some(3600), StrategySpec::new("oauth2")),
        "static-api" => (
            None,
            StrategySpec::new("header").with("header", "X-Api-Key"),
        ),
        _ => return None,
    };
    let mut credentials = nexus_protocol::Credentials::default();
    credentials.insert("access_token", format!("tok-{n}"));
    Some(ResolveResponse {
        access_token: Some(SecretString::new(format!("tok-{n}"))),
        token_type: "Bearer".into(),
        expires_at: None,
        expires_in,
        strategy,
        credentials,
        scopes: vec!["repo".into()],
        api_base_url: None,
        scope_enforcement: None,
        connection_id: Some("conn1".into()),
    })
}

async fn resolve(
    State(state): State<Arc<BrokerState>>,
    headers: HeaderMap,
    Json(body): Json<InternalResolveRequest>,
) -> Response {
    if !authorized(&state, &headers) {
        return error(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            "bad internal token",
        );
    }
    if body.principal.workspace_id() != body.workspace_id {
        return error(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            "wrong workspace",
        );
    }
    match token(&state, &body.provider_name) {
        Some(response) => Json(response).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            ErrorCode::ProviderNotFound,
            "no such provider",
        ),
    }
}

async fn request_connection(
    State(state): State<Arc<BrokerState>>,
    headers: HeaderMap,
    Json(body): Json<InternalRequestConnection>,
) -> Response {
    if !authorized(&state, &headers) || body.principal.workspace_id() != body.workspace_id {
        return error(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            "wrong workspace",
        );
    }
    if body.input.provider_name != "github" {
        return error(
            StatusCode::NOT_FOUND,
            ErrorCode::ProviderNotFound,
            "no such provider",
        );
    }
    Json(RequestConnectionResponse {
        auth_url: "https://provider.invalid/authorize?state=s1".into(),
        connection_id: "conn2".into(),
        state: "s1".into(),
        scopes: body.input.scopes,
        provider_id: "github".into(),
    })
    .into_response()
}

async fn check_connection(
    State(state): State<Arc<BrokerState>>,
    Path((_ws, id)): Path<(String, String)>,
) -> Response {
    let _ = &state;
    if id == "conn1" {
        Json(CheckConnectionResponse {
            status: ConnectionStatus::Active,
            connection_id: Some(id),
            provider_name: Some("github".into()),
            reauth_url: None,
        })
        .into_response()
    } else {
        error(
            StatusCode::NOT_FOUND,
            ErrorCode::ConnectionNotFound,
            "no such connection",
        )
    }
}

async fn connection_token(
    State(state): State<Arc<BrokerState>>,
    Path((_ws, id)): Path<(String, String)>,
) -> Response {
    if id != "conn1" {
        return error(
            StatusCode::NOT_FOUND,
            ErrorCode::ConnectionNotFound,
            "no such connection",
        );
    }
    match token(&state, "github") {
        Some(response) => Json(response).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            ErrorCode::ConnectionNotFound,
            "no such connection",
        ),
    }
}
