//! `nexus proxy` against the dev stack and a recording upstream on loopback: the upstream gets
//! the provider's credential (never the operator's API key), the body goes to stdout as sent,
//! the status to stderr, and the exit codes are the documented ones.

mod common;

use common::{DevStack, import_api_key, run, stderr};
use nexus_testkit::{RecordingUpstream, Reply};

#[test]
fn proxy_prints_the_upstream_answer_and_exits_as_documented() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let upstream = runtime.block_on(RecordingUpstream::start());
    let home = tempfile::tempdir().unwrap();
    let stack = DevStack::start(home.path());
    let file = home.path().join("crm.yaml");
    std::fs::write(
        &file,
        format!(
            "providers:\n  - name: crm\n    auth_type: api_key\n    api_base_url: {}/v2\n    strategy:\n      type: header\n      config:\n        header_name: X-Crm-Key\n",
            upstream.url
        ),
    )
    .unwrap();
    let mut apply = stack.nexus();
    apply.args(["providers", "apply"]).arg(&file);
    common::assert_ok(&run(apply), "providers apply");
    common::assert_ok(&import_api_key(&stack, "crm", "sk_crm_1"), "import");

    upstream.script([
        Reply::Fixed {
            status: 201,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: b"{\"id\":42}".to_vec(),
        },
        Reply::status(404),
        Reply::status(404),
    ]);
    let proxy = |extra: &[&str]| {
        let mut cmd = stack.nexus();
        cmd.args(["proxy", "--workspace", "dev", "--provider", "crm"]);
        cmd.args(extra);
        run(cmd)
    };
    let created = proxy(&[
        "-H",
        "X-Trace: t1",
        "--data",
        "{\"n\":1}",
        "POST",
        "/contacts?x=1",
    ]);
    assert_eq!(created.status.code(), Some(0), "{}", stderr(&created));
    assert_eq!(
        created.stdout, b"{\"id\":42}",
        "the body exactly as sent, nothing else"
    );
    assert!(stderr(&created).contains("HTTP 201"));
    let seen = &upstream.requests()[0];
    assert_eq!(
        (seen.method.as_str(), seen.target.as_str()),
        ("POST", "/v2/contacts?x=1")
    );
    assert_eq!(seen.header("X-Crm-Key"), Some("sk_crm_1"));
    assert_eq!(seen.header("X-Trace"), Some("t1"));
    assert!(
        seen.header("authorization").is_none(),
        "the API key stays at the gateway"
    );
    assert_eq!(seen.body, b"{\"n\":1}");

    // An upstream error is still an upstream answer: exit 0, or 22 with --fail.
    assert_eq!(proxy(&["GET", "/missing"]).status.code(), Some(0));
    assert_eq!(
        proxy(&["--fail", "GET", "/missing"]).status.code(),
        Some(22)
    );
    // The gateway's own refusal (a double-encoded `..`, which no client resolves): exit 1 with
    // its code; nothing reached the upstream.
    let refused = proxy(&["GET", "/a/%252e%252e/b"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("invalid_proxy_path"),
        "{}",
        stderr(&refused)
    );
    assert!(refused.stdout.is_empty());
    // Paths the CLI refuses before sending (an absolute URL; dot segments, which the HTTP
    // client would otherwise resolve into another path): a usage error.
    for path in ["https://evil.example/x", "/a/%2e%2e/b", "/a/../../other/x"] {
        assert_eq!(proxy(&["GET", path]).status.code(), Some(2), "{path}");
    }
    assert_eq!(upstream.count(), 3);
}
