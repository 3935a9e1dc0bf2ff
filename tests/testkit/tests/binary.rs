//! The `nexus-testkit` binary: prints one JSON line with the URL, serves, exits on stdin EOF.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::*;
use serde_json::Value;

/// Spawn the binary with piped stdin/stdout and read its announcement line.
fn spawn(args: &[&str]) -> (Child, Value) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nexus-testkit"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn nexus-testkit");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read announcement");
    let announcement: Value =
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line:?}"));
    (child, announcement)
}

/// Close stdin and wait for a clean exit.
fn stop(mut child: Child) {
    drop(child.stdin.take());
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn echo_binary_prints_its_url_and_exits_when_stdin_closes() {
    let (child, announcement) = spawn(&["echo"]);
    assert_eq!(announcement["kind"], "echo");
    let url = str_field(&announcement, "url").to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let (status, body) = json_of(
        client()
            .get(format!("{url}/hello?x=1"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["path"], "/hello");
    stop(child);
}

#[tokio::test]
async fn oauth_binary_announces_endpoints_and_client_and_serves_them() {
    let (child, announcement) =
        spawn(&["oauth", "--client-id", "cli-client", "--expires-in", "77"]);
    assert_eq!(announcement["kind"], "oauth");
    assert_eq!(announcement["client_id"], "cli-client");
    let url = str_field(&announcement, "url");
    assert_eq!(announcement["token_endpoint"], format!("{url}/token"));

    let (status, issued) = json_of(
        client()
            .post(format!("{url}/_control/issue"))
            .json(&serde_json::json!({"scopes": ["read"]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", str_field(&issued, "refresh_token")),
    ];
    let response = client()
        .post(str_field(&announcement, "token_endpoint"))
        .basic_auth(
            "cli-client",
            Some(str_field(&announcement, "client_secret")),
        )
        .form(&form)
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["expires_in"], 77);
    stop(child);
}

#[test]
fn a_busy_address_is_a_clean_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_nexus-testkit"))
        .args(["echo", "--addr", &addr])
        .stdin(Stdio::piped())
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "nothing announced on stdout");
    assert!(String::from_utf8_lossy(&output.stderr).contains("nexus-testkit:"));
}

/// Wait for the child to exit, polling with a generous deadline (never a fixed sleep).
fn wait_for_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "nexus-testkit did not exit"
        );
        std::thread::yield_now();
        std::thread::park_timeout(std::time::Duration::from_millis(20));
    }
}

#[tokio::test]
async fn a_held_request_does_not_keep_the_binary_alive_after_stdin_closes() {
    let (mut child, announcement) = spawn(&["oauth"]);
    let url = str_field(&announcement, "url").to_owned();
    let slow = serde_json::json!({"kind": "slow", "delay_ms": 600_000});
    let queued = client()
        .post(format!("{url}/_control/failures"))
        .json(&slow)
        .send()
        .await
        .unwrap();
    assert_eq!(queued.status(), 200);
    let held = tokio::spawn(
        client()
            .post(format!("{url}/token"))
            .form(&[("grant_type", "client_credentials")])
            .send(),
    );
    let wait = format!("{url}/_control/wait?token_requests=1&timeout_ms=10000");
    assert_eq!(
        client().get(wait).send().await.unwrap().status(),
        200,
        "the held request arrived"
    );

    drop(child.stdin.take());
    let status = wait_for_exit(&mut child);
    assert!(status.success(), "{status}");
    assert!(
        held.await.unwrap().is_err(),
        "the held request was cut off, not answered"
    );
}

#[cfg(unix)]
#[test]
fn sigterm_stops_the_binary_cleanly() {
    let (mut child, _) = spawn(&["echo"]);
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = wait_for_exit(&mut child);
    assert!(status.success(), "{status}");
}
