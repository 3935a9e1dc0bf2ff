//! Narrowing gates (issue 20): two connections mint narrowed tokens at the same time, while one
//! connection still mints once for callers that ask together. The provider is a real HTTP
//! server on loopback that holds every token response until the test releases it, so the
//! proofs are about who reached the provider, not about timing.

use nexus_vault::Vault;
use nexus_vault::caller::Caller;
use nexus_vault::connections::ImportConnection;
use nexus_vault::providers::{Provider, ProviderInput};
use nexus_vault::testing::{TestDb, all_dbs, pg_db, vault_config};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};

/// A failure deadline (never a synchronisation): how long a request may take to arrive.
const DEADLINE: Duration = Duration::from_secs(30);

/// A token endpoint that reports each request as it arrives and answers only when released.
struct HeldTokenEndpoint {
    url: String,
    arrived: mpsc::UnboundedReceiver<String>,
    release: Arc<Semaphore>,
    requests: Arc<AtomicUsize>,
}

impl HeldTokenEndpoint {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/token", listener.local_addr().unwrap());
        let (tx, arrived) = mpsc::unbounded_channel();
        let release = Arc::new(Semaphore::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let (release2, requests2) = (release.clone(), requests.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (tx, release, requests) = (tx.clone(), release2.clone(), requests2.clone());
                tokio::spawn(async move {
                    let n = requests.fetch_add(1, Ordering::SeqCst) + 1;
                    answer_when_released(stream, n, &tx, &release).await;
                });
            }
        });
        Self {
            url,
            arrived,
            release,
            requests,
        }
    }

    /// The body of the next request that reached the endpoint.
    async fn next_arrival(&mut self) -> String {
        tokio::time::timeout(DEADLINE, self.arrived.recv())
            .await
            .expect("a token request should have reached the provider")
            .expect("endpoint running")
    }
}

async fn answer_when_released(
    mut stream: TcpStream,
    n: usize,
    arrived: &mpsc::UnboundedSender<String>,
    release: &Semaphore,
) {
    let body = read_request_body(&mut stream).await;
    let _ = arrived.send(body);
    release.acquire().await.expect("semaphore").forget();
    let json =
        format!(r#"{{"access_token":"narrowed-{n}","token_type":"Bearer","expires_in":3600}}"#);
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{json}",
        json.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
}

/// Reads one HTTP/1.1 request and returns its body (form-encoded token request).
async fn read_request_body(stream: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            return String::new();
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                return String::from_utf8_lossy(&buf[end + 4..end + 4 + length]).to_string();
            }
        }
    }
}

/// A vault with workspace `w`, provider `p` whose token endpoint is `token_url`, and
/// `connections` connections imported with refresh tokens.
async fn vault_with(db: &TestDb, token_url: &str, connections: usize) -> (Arc<Vault>, Vec<String>) {
    let vault = Vault::start(vault_config(&db.url)).await.expect("vault");
    let admin = Caller::admin(None);
    vault
        .admin()
        .create_workspace("w", None, &admin)
        .await
        .unwrap();
    let provider: ProviderInput = serde_json::from_value(json!({
        "name": "p", "auth_type": "oauth2", "client_id": "c", "client_secret": "s",
        "auth_url": "http://127.0.0.1:9/authorize", "token_url": token_url,
        "scopes": ["read", "write"]
    }))
    .unwrap();
    vault.admin().put_provider(provider, &admin).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..connections {
        let secret = json!(format!("refresh-{i}"));
        let info = vault
            .connections()
            .import_connection(
                "w",
                &ImportConnection {
                    provider_name: "p",
                    kind: "refresh_token",
                    secret: &secret,
                    user_id: Some(&format!("user-{i}")),
                    scopes: &["read".to_owned(), "write".to_owned()],
                    bound_to_mcp_user: false,
                },
                &admin,
            )
            .await
            .unwrap();
        ids.push(info.id);
    }
    (Arc::new(vault), ids)
}

/// Mint a `read`-only token of connection `id`, in a task of its own.
fn mint(vault: &Arc<Vault>, provider: &Provider, id: &str) -> tokio::task::JoinHandle<String> {
    let (vault, provider, id) = (vault.clone(), provider.clone(), id.to_owned());
    tokio::spawn(async move { mint_now(&vault, &provider, &id).await })
}

async fn provider_p(vault: &Vault) -> Provider {
    vault
        .store()
        .get_provider("p")
        .await
        .unwrap()
        .unwrap()
        .provider
}

async fn mint_now(vault: &Vault, provider: &Provider, id: &str) -> String {
    let token = vault
        .connections()
        .narrowed_token("w", id, provider, &["read".to_owned()])
        .await
        .expect("narrowed token")
        .expect("the connection has a refresh token");
    token.access_token.expose().to_owned()
}

/// PostgreSQL only: SQLite has one write lock for the whole database, which a mint holds
/// across its provider call, so there two connections cannot mint at once by design.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_connections_narrow_at_the_same_time() {
    let Some(db) = pg_db().await else {
        return;
    };
    let mut endpoint = HeldTokenEndpoint::start().await;
    let (vault, ids) = vault_with(&db, &endpoint.url, 2).await;
    let provider = provider_p(&vault).await;
    let first = mint(&vault, &provider, &ids[0]);
    let second = mint(&vault, &provider, &ids[1]);
    // Both requests reach the provider while neither has been answered: with one gate for the
    // whole process the second would wait for the first's answer and never arrive here.
    let bodies = [endpoint.next_arrival().await, endpoint.next_arrival().await];
    for body in &bodies {
        assert!(body.contains("grant_type=refresh_token"), "{body}");
        assert!(body.contains("scope=read"), "{body}");
    }
    assert!(bodies.iter().any(|b| b.contains("refresh-0")));
    assert!(bodies.iter().any(|b| b.contains("refresh-1")));
    endpoint.release.add_permits(2);
    let tokens = [first.await.unwrap(), second.await.unwrap()];
    assert_ne!(tokens[0], tokens[1], "each connection got its own token");
    assert_eq!(endpoint.requests.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_mints_once_for_callers_that_ask_together() {
    for db in all_dbs().await {
        let mut endpoint = HeldTokenEndpoint::start().await;
        let (vault, ids) = vault_with(&db, &endpoint.url, 1).await;
        let provider = provider_p(&vault).await;
        let first = mint(&vault, &provider, &ids[0]);
        endpoint.next_arrival().await;
        // The second caller runs until it waits: with the first mint at the provider it can only
        // wait on the connection's gate (the cache look-up before it does not await).
        let mut second = std::pin::pin!(mint_now(&vault, &provider, &ids[0]));
        assert!(futures::poll!(second.as_mut()).is_pending(), "{}", db.label);
        endpoint.release.add_permits(1);
        let token = first.await.unwrap();
        // A second mint would be held at the provider (no permit left): the deadline fails it.
        let reused = tokio::time::timeout(DEADLINE, second)
            .await
            .expect("the second caller should reuse the first mint, not ask the provider");
        assert_eq!(
            reused, token,
            "{}: the second caller reuses the mint",
            db.label
        );
        assert_eq!(endpoint.requests.load(Ordering::SeqCst), 1, "{}", db.label);
    }
}
