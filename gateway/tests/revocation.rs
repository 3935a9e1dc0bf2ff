//! Revocations reach every gateway at once (issue 14 item 12): two gateways with production
//! cache settings (keys remembered 10 s, tokens up to 300 s) in front of one real broker, on
//! SQLite and on PostgreSQL. A key revoked, a connection deleted or a session ended is refused
//! on both gateways long before any cache entry could expire (the broker pushes the revocation
//! over `GET /internal/v1/events`, and to other brokers on the same PostgreSQL database with
//! `LISTEN`/`NOTIFY`); the measured latencies (the goal: under 1 s) are printed.

mod common;

use common::broker::{PeerBroker, TestBroker, fresh_postgres_database};
use common::{INTERNAL_TOKEN, status_and_json, test_config, wait_until};
use nexus_gateway::Gateway;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

const QUERY: &str = "workspace_id=acme&provider_name=static-api";
/// Half the shortest cache TTL (keys, 10 s; tokens, 300 s): a refusal before it can only come
/// from the pushed revocation, never from a cache entry expiring. The goal (1 s) is a
/// measurement, printed per gateway, not an assertion (a loaded CI machine must not flake it).
const DEADLINE: Duration = Duration::from_secs(5);

struct TwoGateways {
    broker: TestBroker,
    /// With `peer`, the second gateway follows this second broker on the same database.
    _peer: Option<PeerBroker>,
    gateways: Vec<(Gateway, String)>,
    http: reqwest::Client,
}

impl TwoGateways {
    async fn start(database_url: Option<String>, peer: bool) -> Self {
        let broker = TestBroker::start_on(INTERNAL_TOKEN, database_url).await;
        let peer = match peer {
            true => Some(broker.start_peer().await),
            false => None,
        };
        let broker_urls = [
            broker.url.clone(),
            peer.as_ref().map_or(broker.url.clone(), |p| p.url.clone()),
        ];
        let mut gateways = Vec::new();
        for broker_url in &broker_urls {
            let mut config = test_config(broker_url);
            config.key_cache_ttl = Duration::from_secs(10);
            config.token_cache_max_ttl = Duration::from_secs(300);
            config.revocation_feed = true;
            let gateway = Gateway::new(config).expect("gateway config");
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let url = format!("http://{}", listener.local_addr().expect("addr"));
            let router = gateway.router();
            tokio::spawn(async move {
                let _ = axum::serve(listener, router).await;
            });
            gateways.push((gateway, url));
        }
        for (gateway, _) in &gateways {
            wait_until("the revocation stream", || {
                gateway.revocation_feed_connected()
            })
            .await;
        }
        Self {
            broker,
            _peer: peer,
            gateways,
            http: reqwest::Client::new(),
        }
    }

    async fn resolve(&self, gateway_url: &str, bearer: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{gateway_url}/v1/resolve?{QUERY}"))
            .bearer_auth(bearer)
            .send()
            .await
            .expect("gateway reachable");
        status_and_json(response).await
    }

    /// Every gateway answers `bearer` with `serving` twice (so its caches hold key and token).
    async fn all_serve(&self, bearer: &str, serving: u16) {
        for (_, url) in &self.gateways {
            for _ in 0..2 {
                let (status, body) = self.resolve(url, bearer).await;
                assert_eq!(status, serving, "{url}: {body}");
            }
        }
    }

    /// Polls each gateway until `bearer` is refused with `refused` (any other answer than
    /// `serving` fails); fails after [`DEADLINE`]. Prints the latency measured from `since`.
    async fn all_refuse(
        &self,
        what: &str,
        bearer: &str,
        (serving, refused): (u16, u16),
        since: Instant,
    ) {
        for (index, (_, url)) in self.gateways.iter().enumerate() {
            loop {
                let (status, body) = self.resolve(url, bearer).await;
                if status != serving {
                    assert_eq!(status, refused, "{what} on gateway {index}: {body}");
                    break;
                }
                assert!(
                    since.elapsed() < DEADLINE,
                    "{what}: gateway {index} still serves after {:?}",
                    since.elapsed()
                );
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            eprintln!(
                "revocation latency: {what}: gateway {index} refuses after {:?}",
                since.elapsed()
            );
        }
    }
}

async fn revocations_reach_both_gateways(database_url: Option<String>, peer: bool) {
    let stack = TwoGateways::start(database_url, peer).await;
    let connection = stack.broker.add_connection("acme", "static-api").await;
    let (key, key_id) = stack.broker.new_key("acme").await;
    let (_, spare_key_id) = stack.broker.new_key("acme").await;
    assert_ne!(key_id, spare_key_id);

    // A session, ended through the API: refused at once on both gateways. (The static
    // connection grants no scopes, so an authenticated session gets 403 `scope_not_allowed`:
    // enough to tell "authenticated" from "refused".)
    let (_, credential) = stack
        .broker
        .new_agent("acme", &["provider:static-api:read"])
        .await;
    let (gateway_url, other_url) = (&stack.gateways[0].1, &stack.gateways[1].1);
    let response = stack
        .http
        .post(format!("{gateway_url}/v1/sessions"))
        .bearer_auth(&credential)
        .json(&json!({}))
        .send()
        .await
        .expect("gateway reachable");
    let (status, session) = status_and_json(response).await;
    assert_eq!(status, 201, "{session}");
    let token = session["session_token"].as_str().expect("token").to_owned();
    let session_id = session["session_id"].as_str().expect("id").to_owned();
    stack.all_serve(&token, 403).await;
    let response = stack
        .http
        .delete(format!("{other_url}/v1/sessions/{session_id}"))
        .bearer_auth(&credential)
        .send()
        .await
        .expect("gateway reachable");
    assert_eq!(response.status().as_u16(), 204);
    stack
        .all_refuse("session ended", &token, (403, 401), Instant::now())
        .await;

    // A key revoked through the admin API (cached for 10 s on both gateways).
    stack.all_serve(&key, 200).await;
    stack.broker.revoke_key("acme", &key_id).await;
    stack
        .all_refuse("API key revoked", &key, (200, 401), Instant::now())
        .await;

    // A connection deleted (its static credential cached for up to 300 s on both gateways).
    let (other_key, _) = stack.broker.new_key("acme").await;
    stack.all_serve(&other_key, 200).await;
    let path = format!("/admin/v1/workspaces/acme/connections/{connection}");
    stack
        .broker
        .admin(reqwest::Method::DELETE, &path, None, 204)
        .await;
    stack
        .all_refuse("connection deleted", &other_key, (200, 404), Instant::now())
        .await;
}

#[tokio::test]
async fn sqlite_revocations_reach_both_gateways_at_once() {
    revocations_reach_both_gateways(None, false).await;
}

#[tokio::test]
async fn postgres_revocations_reach_both_gateways_at_once() {
    if let Some(url) = fresh_postgres_database().await {
        revocations_reach_both_gateways(Some(url), false).await;
    }
}

/// Two brokers on one PostgreSQL database, each gateway following a different one: what one
/// broker revokes reaches the other's gateway through `LISTEN`/`NOTIFY`.
#[tokio::test]
async fn postgres_revocations_reach_the_gateways_of_another_broker() {
    if let Some(url) = fresh_postgres_database().await {
        revocations_reach_both_gateways(Some(url), true).await;
    }
}
