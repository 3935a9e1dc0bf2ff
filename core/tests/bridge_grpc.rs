//! gRPC per-call credentials against a real tonic-health server on loopback whose interceptor
//! accepts only the currently valid token (issued by the testkit's stand-in gateway).

use nexus_sdk::bridge::grpc::GrpcCredentials;
use nexus_sdk::{ClientOptions, NexusClient, RetryPolicy, TokenCache};
use nexus_testkit::WsServer;
use parking_lot::Mutex;
use std::sync::Arc;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Endpoint, Server};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tower::Layer;

/// Start a health server that checks `authorization` against the token server's current token
/// and records every value it saw.
async fn health_server(tokens: Arc<WsServer>, seen: Arc<Mutex<Vec<String>>>) -> String {
    let (_reporter, service) = tonic_health::server::health_reporter();
    let check = move |request: tonic::Request<()>| {
        let presented = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        seen.lock().push(presented.clone());
        if presented == format!("Bearer {}", tokens.current_token()) {
            Ok(request)
        } else {
            Err(tonic::Status::unauthenticated("bad token"))
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(
        Server::builder()
            .add_service(tonic::service::interceptor::InterceptedService::new(
                service, check,
            ))
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    format!("http://{addr}")
}

fn credentials(tokens: &WsServer) -> GrpcCredentials {
    let mut options = ClientOptions::new(tokens.gateway_url(), "nexus-test-key");
    options.retry = RetryPolicy::none();
    let client = NexusClient::new(options).expect("client");
    GrpcCredentials::new(client, TokenCache::new(), "ws_1", "grpc")
}

#[tokio::test]
async fn calls_carry_the_cached_credential_and_retry_once_after_unauthenticated() {
    let tokens = Arc::new(WsServer::start().await);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let url = health_server(tokens.clone(), seen.clone()).await;
    let creds = credentials(&tokens);
    let channel = Endpoint::from_shared(url)
        .expect("url")
        .connect()
        .await
        .expect("connect");
    let mut client = HealthClient::new(creds.layer().layer(channel));

    let reply = client
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("authenticated call");
    assert_eq!(reply.into_inner().status(), ServingStatus::Serving);
    assert_eq!(
        seen.lock().last().cloned(),
        Some(format!("Bearer {}", tokens.current_token()))
    );
    let resolves_after_first = tokens.resolves();
    client
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("second call");
    assert_eq!(
        tokens.resolves(),
        resolves_after_first,
        "the second call used the cache"
    );

    // The upstream rotates the credential: the cached one is now rejected.
    tokens.rotate();
    let plain = client
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await;
    assert_eq!(
        plain.expect_err("stale").code(),
        tonic::Code::Unauthenticated
    );

    let mut calls = 0;
    let reply = creds
        .call_with_refresh(|| {
            calls += 1;
            let mut client = client.clone();
            async move {
                client
                    .check(HealthCheckRequest {
                        service: String::new(),
                    })
                    .await
            }
        })
        .await
        .expect("retried with a refreshed credential");
    assert_eq!(reply.into_inner().status(), ServingStatus::Serving);
    assert_eq!(calls, 2);
    assert_eq!(
        seen.lock().last().cloned(),
        Some(format!("Bearer {}", tokens.current_token()))
    );
}

#[tokio::test]
async fn a_revoked_grant_is_unauthenticated_after_one_retry() {
    let tokens = Arc::new(WsServer::start().await);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let url = health_server(tokens.clone(), seen.clone()).await;
    let creds = credentials(&tokens);
    let channel = Endpoint::from_shared(url)
        .expect("url")
        .connect()
        .await
        .expect("connect");
    let client = HealthClient::new(creds.layer().layer(channel));
    // Prime the cache, then revoke upstream and at the gateway.
    client
        .clone()
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("first");
    tokens.rotate();
    tokens.revoke();
    let mut calls = 0;
    let status = creds
        .call_with_refresh(|| {
            calls += 1;
            let mut client = client.clone();
            async move {
                client
                    .check(HealthCheckRequest {
                        service: String::new(),
                    })
                    .await
            }
        })
        .await
        .expect_err("cannot succeed");
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    assert!(
        status.message().contains("reauth_required"),
        "{}",
        status.message()
    );
    assert_eq!(calls, 1, "no second call without a credential");
    // Nothing secret in the status.
    assert!(!status.message().contains("ws-token"));
}
