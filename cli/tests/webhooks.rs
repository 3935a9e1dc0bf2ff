//! `nexus webhooks` against a real `nexus dev` stack and a loopback receiver that verifies every
//! signature: the secret is printed once (alone on stdout), never listed or logged, and the
//! events of real connection changes arrive signed.

mod common;

use common::*;
use nexus_testkit::WebhookReceiver;
use serde_json::Value;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(20);

fn webhooks(stack: &DevStack, args: &[&str]) -> std::process::Output {
    let mut cmd = stack.nexus();
    cmd.arg("webhooks").args(args);
    let out = run(cmd);
    assert_ok(&out, &format!("nexus webhooks {args:?}"));
    out
}

fn only_line(out: &std::process::Output) -> String {
    let text = stdout(out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "stdout is exactly one line: {text:?}");
    lines[0].to_owned()
}

#[test]
fn add_prints_the_secret_once_and_signed_events_arrive() {
    let tmp = tempfile::tempdir().unwrap();
    let stack = DevStack::start(&tmp.path().join("home"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let receiver = rt.block_on(WebhookReceiver::start());

    let out = webhooks(
        &stack,
        &[
            "add",
            "--url",
            &receiver.url(),
            "--events",
            "connection.created",
        ],
    );
    let secret = only_line(&out);
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert!(stderr(&out).contains("shown only this once"));
    receiver.set_secrets([secret.clone()]);

    // A real connection change: importing a credential creates a connection.
    let file = write_api_key_provider(tmp.path(), "example");
    let mut apply = stack.nexus();
    apply.args(["providers", "apply"]).arg(&file);
    assert_ok(&run(apply), "providers apply");
    assert_ok(
        &import_api_key(&stack, "example", "sk_test_webhooks_0123456789\n"),
        "connections import",
    );
    let log = rt
        .block_on(receiver.wait_until(DEADLINE, |l| !l.accepted().is_empty()))
        .unwrap_or_else(|l| panic!("no event: {l:?}\n{}", stack.log_text()));
    assert_eq!(log.accepted()[0].event_type, "connection.created");
    assert!(!log.accepted()[0].body.contains("sk_test_webhooks"));

    let list: Value =
        serde_json::from_str(&stdout(&webhooks(&stack, &["--json", "list"]))).unwrap();
    let id = list[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(list[0]["events"], serde_json::json!(["connection.created"]));
    let table = stdout(&webhooks(&stack, &["list"]));
    assert!(table.contains(&receiver.url()), "{table}");

    let out = webhooks(&stack, &["deliveries", &id, "--state", "delivered"]);
    assert!(
        stdout(&out).contains("connection.created"),
        "{}",
        stdout(&out)
    );

    let rotated = only_line(&webhooks(
        &stack,
        &["rotate-secret", &id, "--overlap", "30m"],
    ));
    assert!(rotated.starts_with("whsec_") && rotated != secret);

    // Neither secret is ever shown again or written to the stack's log.
    let listed = stdout(&webhooks(&stack, &["--json", "list"]));
    for s in [&secret, &rotated] {
        assert!(!listed.contains(s.as_str()));
        assert!(
            !stack.log_text().contains(s.as_str()),
            "a secret reached the log"
        );
    }

    webhooks(&stack, &["remove", &id]);
    let after: Value =
        serde_json::from_str(&stdout(&webhooks(&stack, &["--json", "list"]))).unwrap();
    assert_eq!(after, serde_json::json!([]));

    // A bad id or event type is a usage error, not a request.
    let mut bad = stack.nexus();
    bad.args(["webhooks", "remove", "../admin"]);
    assert_eq!(run(bad).status.code(), Some(2));
    let mut bad = stack.nexus();
    bad.args([
        "webhooks",
        "add",
        "--url",
        &receiver.url(),
        "--events",
        "connection.nope",
    ]);
    let out = run(bad);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("connection.refresh_failed"),
        "{}",
        stderr(&out)
    );
}
