//! Issue 14 item 1: a providers document never reads the broker's environment. `${NAME}` sent
//! to the admin API is text; the CLI expands it from *its* environment before sending, and an
//! unset variable stops the CLI (exit 2) before any request.

mod common;

use common::*;
use serde_json::Value;

/// Values only the broker process has in its environment.
const BROKER_ONLY: [(&str, &str); 3] = [
    ("NEXUS_MASTER_KEY", "canary-master-key-7f3a"),
    ("NEXUS_INTERNAL_TOKEN", "canary-internal-token-7f3a"),
    (
        "NEXUS_DATABASE_URL",
        "postgres://nexus:canary-db-password-7f3a@db/nexus",
    ),
];

fn admin_call(stack: &DevStack, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let url = format!("{}{path}", stack.get("NEXUS_BROKER_URL"));
        let client = reqwest::Client::new();
        let request = match method {
            "POST" => client.post(url).body(body.unwrap_or_default().to_owned()),
            _ => client.get(url),
        };
        let response = request
            .bearer_auth(stack.get("NEXUS_ADMIN_TOKEN"))
            .header("content-type", "application/yaml")
            .send()
            .await
            .expect("broker answers");
        (
            response.status().as_u16(),
            response.text().await.unwrap_or_default(),
        )
    })
}

fn provider(stack: &DevStack, name: &str) -> Option<Value> {
    let (status, body) = admin_call(stack, "GET", "/admin/v1/providers", None);
    assert_eq!(status, 200, "{body}");
    let list: Value = serde_json::from_str(&body).unwrap();
    // A plain array today; `{"providers": [...]}` is accepted too.
    list.as_array()
        .or_else(|| list["providers"].as_array())
        .expect("a list of providers")
        .iter()
        .find(|p| p["name"] == name)
        .cloned()
}

/// A dev stack whose process environment holds [`BROKER_ONLY`].
fn start_with_broker_secrets(dir: &std::path::Path) -> DevStack {
    let free_ports = [
        "--gateway-addr",
        "127.0.0.1:0",
        "--broker-addr",
        "127.0.0.1:0",
    ];
    DevStack::start_with_env(&dir.join("home"), &free_ports, &BROKER_ONLY)
}

fn assert_no_canary(text: &str) {
    for (_, value) in BROKER_ONLY {
        assert!(
            !text.contains(value),
            "the broker's environment leaked: {text}"
        );
    }
    assert!(!text.contains("canary-"), "{text}");
}

#[test]
fn the_admin_api_never_reads_the_brokers_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let stack = start_with_broker_secrets(tmp.path());

    // Stored literally: reading the provider back shows the reference, not the value.
    let doc = "providers:\n  - name: leak\n    auth_type: oauth2\n    client_id: ${NEXUS_MASTER_KEY}\n    display_name: ${NEXUS_DATABASE_URL}\n    auth_url: https://idp.example.com/authorize\n    token_url: https://idp.example.com/token\n    scopes: ${NEXUS_INTERNAL_TOKEN:-x}\n";
    let (status, body) = admin_call(&stack, "POST", "/admin/v1/providers/apply", Some(doc));
    assert_eq!(status, 200, "{body}");
    let stored = provider(&stack, "leak").expect("applied");
    assert_eq!(stored["client_id"], "${NEXUS_MASTER_KEY}");
    assert_eq!(stored["display_name"], "${NEXUS_DATABASE_URL}");
    assert_no_canary(&stored.to_string());

    // Validation errors neither expand nor repeat what was sent.
    for field in [
        "auth_type: ${NEXUS_MASTER_KEY}",
        "catalog: ${NEXUS_INTERNAL_TOKEN}",
        "pkce: ${NEXUS_DATABASE_URL}",
        "token_endpoint_auth_method: ${NEXUS_MASTER_KEY}",
        "strategy: {type: \"${NEXUS_MASTER_KEY}\"}",
        "token_url: ${NEXUS_MASTER_KEY}",
    ] {
        let doc = format!("providers:\n  - name: bad\n    {field}\n");
        let (status, body) = admin_call(&stack, "POST", "/admin/v1/providers/apply", Some(&doc));
        assert_eq!(status, 400, "{field}: {body}");
        assert_no_canary(&body);
        assert!(
            !body.contains("${"),
            "{field}: the submitted value is echoed: {body}"
        );
    }
    let doc = "providers:\n  - name: Sekrit-Value\n";
    let (status, body) = admin_call(&stack, "POST", "/admin/v1/providers/apply", Some(doc));
    assert_eq!(status, 400, "{body}");
    assert!(!body.contains("Sekrit-Value"), "{body}");
}

#[test]
fn the_cli_expands_from_its_own_environment_and_sends_nothing_when_a_variable_is_unset() {
    let tmp = tempfile::tempdir().unwrap();
    let stack = start_with_broker_secrets(tmp.path());
    let file = tmp.path().join("providers.yaml");
    std::fs::write(
        &file,
        "providers:\n  - name: github\n    catalog: github\n    client_id: ${GITHUB_CLIENT_ID}\n    client_secret: ${GITHUB_CLIENT_SECRET}\n    display_name: ${GITHUB_LABEL:-GitHub (default)}\n",
    )
    .unwrap();

    // The documented workflow: export the values in the operator's shell, then apply.
    let mut apply = stack.nexus();
    apply
        .args(["providers", "apply"])
        .arg(&file)
        .env("GITHUB_CLIENT_ID", "Iv1.from-the-cli-env")
        .env("GITHUB_CLIENT_SECRET", "secret-from-the-cli-env");
    let out = run(apply);
    assert_ok(&out, "providers apply");
    assert!(
        !stdout(&out).contains("secret-from-the-cli-env") && !stderr(&out).contains("secret-from"),
        "the secret is never printed"
    );
    let stored = provider(&stack, "github").expect("applied");
    assert_eq!(stored["client_id"], "Iv1.from-the-cli-env");
    assert_eq!(stored["display_name"], "GitHub (default)");
    assert_eq!(stored["has_client_secret"], true, "{stored}");

    // A variable only the broker has is unset for the CLI: exit 2, nothing sent.
    let before = admin_call(&stack, "GET", "/admin/v1/providers", None);
    std::fs::write(
        &file,
        "providers:\n  - name: stolen\n    auth_type: api_key\n    display_name: ${NEXUS_MASTER_KEY}\n",
    )
    .unwrap();
    let mut apply = stack.nexus();
    apply.args(["providers", "apply"]).arg(&file);
    let out = run(apply);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("NEXUS_MASTER_KEY"),
        "{}",
        stderr(&out)
    );
    assert_no_canary(&stderr(&out));
    assert_eq!(
        admin_call(&stack, "GET", "/admin/v1/providers", None),
        before,
        "the broker saw nothing"
    );
    assert!(provider(&stack, "stolen").is_none());
}

/// Issue 14 item 8: nesting is refused before parsing, so a deep document costs no CPU time
/// (before, 100,000 levels took seconds of it, quadratic in the depth).
#[test]
fn deeply_nested_documents_are_refused_with_a_typed_error() {
    let tmp = tempfile::tempdir().unwrap();
    let stack = DevStack::start(&tmp.path().join("home"));
    let megabyte = 1 << 20;
    for (what, doc) in [
        ("100k flow sequences", "[".repeat(100_000)),
        ("100k flow mappings", "{a: ".repeat(100_000)),
        ("100k block sequences", "- ".repeat(100_000) + "x"),
        (
            "1 MB of JSON objects",
            format!("{{\"providers\": {}", "{\"a\": ".repeat(megabyte / 6)),
        ),
        ("1 MB of flow sequences", "[".repeat(megabyte)),
    ] {
        let (status, body) = admin_call(&stack, "POST", "/admin/v1/providers/apply", Some(&doc));
        assert_eq!(status, 400, "{what}: {body}");
        let error: Value = serde_json::from_str(&body).expect("a JSON error");
        assert_eq!(error["error"], "invalid_request", "{what}");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("deeper than 64"),
            "{what}: {body}"
        );
    }
    // A large but shallow document is still accepted.
    let entries: Vec<String> = (0..2000)
        .map(|i| {
            format!(
                "{{\"name\": \"p{i}\", \"auth_type\": \"api_key\", \"strategy\": {{\"type\": \"header\", \"config\": {{\"header_name\": \"X-Key\"}}}}}}"
            )
        })
        .collect();
    let doc = format!("{{\"providers\": [{}]}}", entries.join(", "));
    let (status, body) = admin_call(
        &stack,
        "POST",
        "/admin/v1/providers/apply?dry_run=true",
        Some(&doc),
    );
    assert_eq!(status, 200, "{body}");
}
