//! `nexus dev` end to end: the real binary, real HTTP on loopback, SQLite in a temp home.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;

#[test]
fn the_dev_key_resolves_an_imported_credential_over_http() {
    let tmp = tempfile::tempdir().unwrap();
    let stack = DevStack::start(&tmp.path().join("home"));
    assert_eq!(stack.get("NEXUS_WORKSPACE_ID"), "dev");

    let file = write_api_key_provider(tmp.path(), "example");
    let mut apply = stack.nexus();
    apply.args(["providers", "apply"]).arg(&file);
    let out = run(apply);
    assert_ok(&out, "providers apply");
    assert!(
        stdout(&out).contains("example"),
        "drift report names the provider: {}",
        stdout(&out)
    );

    let secret = "sk_test_resolve_0123456789abcdef";
    let out = import_api_key(&stack, "example", &format!("{secret}\n"));
    assert_ok(&out, "connections import");
    assert!(
        !stdout(&out).contains(secret) && !stderr(&out).contains(secret),
        "import never echoes the secret"
    );

    let (status, body) = stack.resolve("example");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["credentials"]["api_key"], secret,
        "the trailing newline from stdin is not part of the key"
    );
    assert_eq!(body["strategy"]["type"], "header");
    assert_eq!(body["strategy"]["config"]["header_name"], "X-API-Key");

    // The CLI's own resolve shows the strategy but masks the secret.
    let mut resolve = stack.nexus();
    resolve.args(["resolve", "--workspace", "dev", "--provider", "example"]);
    let out = run(resolve);
    assert_ok(&out, "nexus resolve");
    assert!(stdout(&out).contains("header"), "{}", stdout(&out));
    assert!(
        !stdout(&out).contains(secret),
        "resolve output masks the credential: {}",
        stdout(&out)
    );
}

#[test]
fn restart_keeps_keys_tokens_and_data() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let mut first = DevStack::start(&home);
    let file = write_api_key_provider(tmp.path(), "kept");
    let mut apply = first.nexus();
    apply.args(["providers", "apply"]).arg(&file);
    assert_ok(&run(apply), "providers apply");
    let secret = "sk_test_restart_abcdefghijklmnop";
    assert_ok(&import_api_key(&first, "kept", secret), "import");
    let env_before = first.env.clone();
    let status = first.stop_with("TERM");
    assert!(
        status.success(),
        "SIGTERM is a clean shutdown: {status}\n{}",
        first.log_text()
    );
    assert!(
        !home.join("dev.env").exists(),
        "a stopped stack leaves no dev.env behind"
    );
    drop(first);

    let second = DevStack::start(&home);
    for key in ["NEXUS_ADMIN_TOKEN", "NEXUS_API_KEY", "NEXUS_WORKSPACE_ID"] {
        assert_eq!(second.env[key], env_before[key], "{key} survives a restart");
    }
    // The secret was sealed with the master key of the first run; reading it back proves the
    // same key (and the same database) is in use.
    let (status, body) = second.resolve("kept");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["credentials"]["api_key"], secret);
}

#[test]
fn secrets_in_the_home_are_private() {
    let tmp = tempfile::tempdir().unwrap();
    let stack = DevStack::start(&tmp.path().join("home"));
    for file in [
        "master.key",
        "admin.token",
        "internal.token",
        "dev-api-key",
        "dev.env",
    ] {
        let mode = std::fs::metadata(stack.home.join(file))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{file} has mode {mode:o}");
    }
}

#[test]
fn api_keys_create_prints_only_a_working_key() {
    let tmp = tempfile::tempdir().unwrap();
    let stack = DevStack::start(&tmp.path().join("home"));
    let mut create = stack.nexus();
    create.args(["api-keys", "create", "--workspace", "dev"]);
    let out = run(create);
    assert_ok(&out, "api-keys create");
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "stdout is exactly the key: {text:?}");
    let key = lines[0];
    assert!(!key.is_empty() && !key.contains(' '), "{key:?}");
    assert_ne!(
        key,
        stack.get("NEXUS_API_KEY"),
        "a new key, not the dev one"
    );

    // The key authenticates at the gateway: no provider yet, so a 404, not a 401.
    let (status, body) = resolve_http(stack.get("NEXUS_GATEWAY_URL"), key, "dev", "nothing");
    assert_ne!(status, 401, "{body}");
    let (status, _) = resolve_http(
        stack.get("NEXUS_GATEWAY_URL"),
        "nxk_not_a_key",
        "dev",
        "nothing",
    );
    assert_eq!(status, 401);
}

#[test]
fn connections_import_reads_the_secret_from_stdin_only() {
    let tmp = tempfile::tempdir().unwrap();
    let stack = DevStack::start(&tmp.path().join("home"));
    let file = write_api_key_provider(tmp.path(), "stdin");
    let mut apply = stack.nexus();
    apply.args(["providers", "apply"]).arg(&file);
    assert_ok(&run(apply), "providers apply");

    // Nothing on stdin: a usage error, and nothing was created.
    let out = import_api_key(&stack, "stdin", "");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("stdin"), "{}", stderr(&out));
    let mut list = stack.nexus();
    list.args(["--json", "connections", "list", "--workspace", "dev"]);
    let out = run(list);
    assert_ok(&out, "connections list");
    assert!(
        !stdout(&out).contains("stdin"),
        "no connection after a failed import: {}",
        stdout(&out)
    );

    // There is no flag to pass a secret on the command line.
    let mut argv = stack.nexus();
    argv.args([
        "connections",
        "import",
        "--workspace",
        "dev",
        "--provider",
        "stdin",
        "--kind",
        "api_key",
        "--secret",
        "x",
    ]);
    assert_eq!(run(argv).status.code(), Some(2));

    // Credentials as a JSON object.
    let mut creds = stack.nexus();
    creds.args([
        "connections",
        "import",
        "--workspace",
        "dev",
        "--provider",
        "stdin",
        "--kind",
        "credentials",
    ]);
    let out = run_with_stdin(creds, "not json {");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("not json"),
        "the input is never quoted back"
    );

    let out = import_api_key(&stack, "stdin", "sk_from_stdin_0123456789");
    assert_ok(&out, "import");
    let mut list = stack.nexus();
    list.args(["--json", "connections", "list", "--workspace", "dev"]);
    let out = run(list);
    assert_ok(&out, "connections list");
    assert!(stdout(&out).contains("stdin"), "{}", stdout(&out));
    assert!(
        !stdout(&out).contains("sk_from_stdin"),
        "listing never shows a secret"
    );
}

#[test]
fn sigint_stops_the_stack_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let mut stack = DevStack::start(&tmp.path().join("home"));
    let status = stack.stop_with("INT");
    assert!(status.success(), "{status}\n{}", stack.log_text());
}

#[test]
fn a_clean_stop_writes_the_uses_still_queued() {
    // The broker records who used a connection (the console's "used by") up to a second after
    // the resolve, in batches. A SIGTERM right after a resolve must not lose that use: the
    // stop writes what is queued once requests have drained.
    let (_tmp, home, mut stack) = stack_with_api_key("used", "sk_test_used_0123456789");
    let (status, body) = stack.resolve("used");
    assert_eq!(status, 200, "{body}");
    let status = stack.stop_with("TERM");
    assert!(status.success(), "{status}\n{}", stack.log_text());

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let uses: Vec<(String, String)> = rt.block_on(async {
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}", home.join("nexus.db").display());
        let db = sqlx::AnyPool::connect(&url).await.expect("open nexus.db");
        sqlx::query_as(
            "SELECT u.workspace_id, c.provider_name FROM connection_usage u \
             JOIN connections c ON c.workspace_id = u.workspace_id AND c.id = u.connection_id",
        )
        .fetch_all(&db)
        .await
        .expect("read connection_usage")
    });
    assert_eq!(
        uses,
        vec![("dev".to_owned(), "used".to_owned())],
        "the resolve's use was written before exit\n{}",
        stack.log_text()
    );
}

/// A dev stack in a fresh home (kept while the first value lives) with `provider` applied and
/// `secret` imported as its API key in workspace `dev`.
fn stack_with_api_key(
    provider: &str,
    secret: &str,
) -> (tempfile::TempDir, std::path::PathBuf, DevStack) {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let stack = DevStack::start(&home);
    apply_provider(&stack, tmp.path(), provider);
    assert_ok(&import_api_key(&stack, provider, secret), "import");
    (tmp, home, stack)
}

fn apply_provider(stack: &DevStack, dir: &std::path::Path, name: &str) {
    let file = write_api_key_provider(dir, name);
    let mut apply = stack.nexus();
    apply.args(["providers", "apply"]).arg(&file);
    assert_ok(&run(apply), "providers apply");
}

#[test]
fn key_rotation_keeps_secrets_readable_across_a_restart() {
    let secret = "sk_test_rotation_0123456789abcdef";
    let (_tmp, home, mut stack) = stack_with_api_key("rotating", secret);

    let mut rotate = stack.nexus();
    rotate.args(["--json", "keys", "rotate"]);
    let out = run(rotate);
    assert_ok(&out, "keys rotate");
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("--json output");
    assert!(report["reencrypted"].as_u64().unwrap_or(0) >= 1, "{report}");
    let mode = std::fs::metadata(home.join("master.key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "the rotated keyring stays private");

    let (status, body) = stack.resolve("rotating");
    assert_eq!(
        (status, &body["credentials"]["api_key"]),
        (200, &serde_json::json!(secret)),
        "{body}"
    );

    // The new key was written to the home's keyring: a restart can still open every secret.
    assert!(stack.stop_with("TERM").success());
    let stack = DevStack::start(&home);
    let (status, body) = stack.resolve("rotating");
    assert_eq!(status, 200, "{body}\n{}", stack.log_text());
    assert_eq!(body["credentials"]["api_key"], secret);
}

#[test]
fn connect_prints_only_the_url_to_open() {
    let tmp = tempfile::tempdir().unwrap();
    let stack = DevStack::start(&tmp.path().join("home"));
    apply_provider(&stack, tmp.path(), "formed");
    let mut connect = stack.nexus();
    connect.args([
        "connect",
        "--direct",
        "--workspace",
        "dev",
        "--provider",
        "formed",
    ]);
    let out = run(connect);
    assert_ok(&out, "connect");
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text:?}");
    assert!(
        lines[0].starts_with(stack.get("NEXUS_BROKER_URL")),
        "{text:?}"
    );

    // The connection waits for the person, and the audit log recorded who asked.
    let mut list = stack.nexus();
    list.args(["--json", "connections", "list", "--workspace", "dev"]);
    let out = run(list);
    assert_ok(&out, "connections list");
    assert!(stdout(&out).contains("pending"), "{}", stdout(&out));
    let mut audit = stack.nexus();
    audit.args(["--json", "audit", "--workspace", "dev"]);
    let out = run(audit);
    assert_ok(&out, "audit");
    let records: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("--json output");
    assert!(
        records.to_string().contains("workspace.created"),
        "{records}"
    );
}

#[test]
fn connect_prints_only_a_signed_connect_link() {
    let tmp = tempfile::tempdir().unwrap();
    let stack = DevStack::start(&tmp.path().join("home"));
    apply_provider(&stack, tmp.path(), "linked");
    let mut connect = stack.nexus();
    connect.args([
        "connect",
        "--workspace",
        "dev",
        "--provider",
        "linked",
        "--user",
        "u-7",
        "--ttl",
        "300",
    ]);
    let out = run(connect);
    assert_ok(&out, "connect");
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text:?}");
    let prefix = format!("{}/connect/l/v1.", stack.get("NEXUS_BROKER_URL"));
    assert!(lines[0].starts_with(&prefix), "{text:?}");
    assert!(!lines[0].contains("u-7"), "the link is opaque: {text:?}");

    // A TTL out of range is the broker's clear refusal, not a link.
    let mut bad = stack.nexus();
    bad.args(["connect", "--workspace", "dev", "--ttl", "5"]);
    let out = run(bad);
    assert!(!out.status.success());
    assert!(stdout(&out).is_empty());
}

#[test]
fn a_separate_gateway_process_serves_the_dev_broker() {
    // Production splits the two: `nexus serve gateway` configured from the environment only.
    let tmp = tempfile::tempdir().unwrap();
    let stack = DevStack::start(&tmp.path().join("home"));
    apply_provider(&stack, tmp.path(), "split");
    let secret = "sk_test_split_0123456789abcdef";
    assert_ok(&import_api_key(&stack, "split", secret), "import");
    let internal_token = std::fs::read_to_string(stack.home.join("internal.token")).unwrap();

    let mut child = nexus(tmp.path())
        .args(["serve", "gateway", "--gateway-addr", "127.0.0.1:0"])
        .env("NEXUS_BROKER_URL", stack.get("NEXUS_BROKER_URL"))
        .env("NEXUS_INTERNAL_TOKEN", internal_token.trim())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn nexus serve gateway");
    let gateway_url = wait_for_listeners(&mut child, &["gateway"]).remove(0);
    let (status, body) = resolve_http(&gateway_url, stack.get("NEXUS_API_KEY"), "dev", "split");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["credentials"]["api_key"], secret);
    assert!(terminate(&mut child).success());
}

#[test]
fn secrets_never_reach_the_log_even_at_debug_level() {
    let tmp = tempfile::tempdir().unwrap();
    let stack = DevStack::start_with_env(
        &tmp.path().join("home"),
        &[
            "--gateway-addr",
            "127.0.0.1:0",
            "--broker-addr",
            "127.0.0.1:0",
        ],
        &[("NEXUS_LOG", "debug")],
    );
    apply_provider(&stack, tmp.path(), "logged");
    let secret = "sk_test_never_logged_0123456789";
    assert_ok(&import_api_key(&stack, "logged", secret), "import");
    let (status, _) = stack.resolve("logged");
    assert_eq!(status, 200);
    let mut create = stack.nexus();
    create.args(["api-keys", "create", "--workspace", "dev"]);
    let out = run(create);
    assert_ok(&out, "api-keys create");
    let new_key = stdout(&out).trim().to_owned();

    let log = stack.log_text();
    assert!(
        log.contains("DEBUG") || log.contains("debug"),
        "debug logging was on: {log}"
    );
    let admin_token = stack.get("NEXUS_ADMIN_TOKEN");
    let internal_token = std::fs::read_to_string(stack.home.join("internal.token")).unwrap();
    let master_key = std::fs::read_to_string(stack.home.join("master.key")).unwrap();
    for (what, value) in [
        ("imported secret", secret),
        ("dev API key", stack.get("NEXUS_API_KEY")),
        ("new API key", new_key.as_str()),
        ("admin token", admin_token),
        ("internal token", internal_token.trim()),
        ("master key", master_key.trim()),
    ] {
        assert!(!log.contains(value), "the {what} appears in the log");
    }
}

#[test]
fn providers_apply_dry_run_changes_nothing_and_prune_removes_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let stack = DevStack::start(&tmp.path().join("home"));
    apply_provider(&stack, tmp.path(), "first");
    let second = write_api_key_provider(tmp.path(), "second");
    let list = || {
        let mut cmd = stack.nexus();
        cmd.args(["--json", "providers", "list"]);
        let out = run(cmd);
        assert_ok(&out, "providers list");
        stdout(&out)
    };

    let mut dry = stack.nexus();
    dry.args(["--json", "providers", "apply", "--dry-run", "--prune"])
        .arg(&second);
    let out = run(dry);
    assert_ok(&out, "apply --dry-run");
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["created"], serde_json::json!(["second"]), "{report}");
    assert_eq!(report["pruned"], serde_json::json!(["first"]), "{report}");
    assert!(
        list().contains("\"first\"") && !list().contains("\"second\""),
        "a dry run changes nothing"
    );

    let mut apply = stack.nexus();
    apply.args(["providers", "apply", "--prune"]).arg(&second);
    assert_ok(&run(apply), "apply --prune");
    assert!(
        !list().contains("\"first\"") && list().contains("\"second\""),
        "{}",
        list()
    );
}
