//! The production access log (`nexus_gateway::access_log`): JSON lines with the fields operators
//! need and no secrets, written by a thread of its own; a writer that cannot keep up makes the
//! gateway drop and count lines, never wait.

mod common;

use common::Captured;

use common::{Stack, wait_until};
use nexus_gateway::access_log::AccessLog;
use serde_json::Value;
use std::io::Write;
use std::time::Duration;

const WS: &str = "acme";

/// A sink whose every write waits until the test opens the gate: a log pipe nobody reads.
struct Stuck(std::sync::mpsc::Receiver<()>);

impl Write for Stuck {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let _ = self.0.recv();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn lines_are_json_with_the_operator_fields_and_no_secrets() {
    let captured = Captured::default();
    let log = AccessLog::spawn(captured.clone(), 1024).unwrap();
    let handle = log.clone();
    let stack = Stack::start_with(move |config| config.access_log = Some(handle)).await;
    stack.broker.add_connection(WS, "github").await;
    let (key, _) = stack.broker.new_key(WS).await;

    let query = format!("workspace_id={WS}&provider_name=github&min_ttl=5");
    let ok = stack
        .http
        .get(stack.url(&format!("/v1/resolve?{query}")))
        .bearer_auth(&key)
        .header("x-request-id", "probe-ok-1")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let body: Value = ok.json().await.unwrap();
    let access_token = body["access_token"].as_str().unwrap().to_owned();
    let (status, _) = stack.resolve(&format!("{key}x"), &query).await;
    assert_eq!(status, 401);
    let (status, _) = stack
        .resolve(&key, "workspace_id=other&provider_name=github")
        .await;
    assert_eq!(status, 403);

    wait_until("three access lines", || log.written() >= 3).await;
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert_eq!(lines.len(), 3, "{text}");
    for line in &lines {
        assert_eq!(line["target"], "nexus_gateway::access");
        assert_eq!(line["level"], "INFO");
        let at = line["timestamp"].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(at).is_ok(), "{at}");
        let fields = &line["fields"];
        assert_eq!(fields["method"], "GET");
        assert_eq!(fields["route"], "/v1/resolve");
        assert!(fields["latency_us"].is_u64());
        assert!(
            fields["request_id"]
                .as_str()
                .is_some_and(|id| !id.is_empty())
        );
    }
    let ok = &lines[0]["fields"];
    assert_eq!(ok["status"], 200);
    assert_eq!(ok["request_id"], "probe-ok-1");
    assert_eq!(ok["workspace"], WS);
    // An unknown key authenticates no one: no workspace to name.
    assert_eq!(lines[1]["fields"]["status"], 401);
    assert!(lines[1]["fields"].get("workspace").is_none());
    // The key's own workspace, not the one the caller asked for.
    assert_eq!(lines[2]["fields"]["status"], 403);
    assert_eq!(lines[2]["fields"]["workspace"], WS);

    for secret in [
        key.as_str(),
        access_token.as_str(),
        common::INTERNAL_TOKEN,
        "min_ttl",
    ] {
        assert!(!text.contains(secret), "a secret or query reached the log");
    }
    assert_eq!(log.dropped(), 0);
}

#[tokio::test]
async fn a_full_writer_drops_and_counts_instead_of_blocking() {
    let (open, gate) = std::sync::mpsc::channel();
    // A line or two in the writer's hands (stuck in `write`), one queued: the rest are dropped.
    let log = AccessLog::spawn(Stuck(gate), 1).unwrap();
    let handle = log.clone();
    let stack = Stack::start_with(move |config| config.access_log = Some(handle)).await;

    let requests = 20;
    let all = async {
        for _ in 0..requests {
            let response = stack.http.get(stack.url("/healthz")).send().await.unwrap();
            assert_eq!(response.status(), 200);
        }
    };
    // Were a request waiting for its log line, this would never finish.
    tokio::time::timeout(Duration::from_secs(30), all)
        .await
        .expect("requests finished while the log writer was stuck");
    assert!(
        log.dropped() >= requests - 5,
        "dropped {} of {requests}",
        log.dropped()
    );

    let metrics = stack
        .http
        .get(stack.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let reported: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("nexus_gateway_access_log_dropped_total "))
        .expect("the dropped counter is exported")
        .parse()
        .unwrap();
    assert!(reported >= requests - 5, "{metrics}");

    // Unstick the writer: it catches up with what was queued.
    for _ in 0..requests + 4 {
        let _ = open.send(());
    }
    wait_until("the queued lines", || log.written() >= 2).await;
}
