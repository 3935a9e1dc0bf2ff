//! The gateway's access logs: structured (JSON here), one per request, without secrets. Alone in
//! its own test binary because it installs the process-wide `tracing` subscriber.

mod common;

use common::Stack;
use serde_json::Value;

const WS: &str = "acme";

fn resolve_query(ws: &str, provider: &str) -> String {
    format!("workspace_id={ws}&provider_name={provider}")
}

/// Collects what a `tracing` subscriber writes, for inspection.
#[derive(Clone, Default)]
struct LogBuffer(std::sync::Arc<parking_lot::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn access_logs_are_structured_and_carry_no_secrets() {
    let buffer = LogBuffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .finish();
    // Global, and alone in this test binary: a scoped subscriber would miss events from the
    // servers' tasks on other threads.
    tracing::subscriber::set_global_default(subscriber).expect("first subscriber");

    let stack = Stack::start().await;
    stack.broker.add_connection(WS, "github").await;
    let (key, _) = stack.broker.new_key(WS).await;
    let (status, body) = stack.resolve(&key, &resolve_query(WS, "github")).await;
    assert_eq!(status, 200);
    let access_token = body["access_token"].as_str().unwrap().to_owned();
    let (status, _) = stack
        .resolve(&format!("{key}x"), &resolve_query(WS, "github"))
        .await;
    assert_eq!(status, 401);
    let response = stack
        .http
        .get(stack.url("/healthz"))
        .header("x-request-id", "log-probe-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let text = String::from_utf8(buffer.0.lock().clone()).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not a JSON log line: {line}"))
        })
        .collect();
    let access: Vec<&Value> = lines
        .iter()
        .filter(|l| l["target"] == "nexus_gateway::access")
        .collect();
    assert!(
        access
            .iter()
            .any(|l| l["fields"]["route"] == "/v1/resolve" && l["fields"]["status"] == 200),
        "{text}"
    );
    assert!(
        access
            .iter()
            .any(|l| l["fields"]["route"] == "/v1/resolve" && l["fields"]["status"] == 401)
    );
    assert!(
        access
            .iter()
            .any(|l| l["fields"]["request_id"] == "log-probe-1")
    );
    for secret in [key.as_str(), access_token.as_str(), common::INTERNAL_TOKEN] {
        assert!(!text.contains(secret), "a secret reached the logs");
    }
}
