//! `nexus serve all` for production: PostgreSQL, settings from a `--config` TOML file, an
//! operator's workflow through the CLI (workspace, provider, import, API key), a resolve over
//! HTTP, and a clean SIGTERM.
//!
//! Needs `NEXUS_TEST_DATABASE_URL` (a server where databases may be created). Without it the
//! test notes so on stderr and passes, unless `NEXUS_REQUIRE_PG=1`.

mod common;
mod postgres;

use common::*;
use postgres::{MASTER_KEY, TempDatabase, database_server_url};
use std::process::Stdio;

#[test]
fn serve_all_on_postgres_with_a_config_file() {
    let Some(server_url) = database_server_url() else {
        return;
    };
    let db = TempDatabase::create(&server_url);
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("nexus.toml");
    std::fs::write(
        &config,
        format!(
            "database_url = \"{}\"\nmaster_key = \"{MASTER_KEY}\"\nadmin_token = \"serve-admin-token-0123456789abcdefghijklmnop\"\ninternal_token = \"serve-internal-token-0123456789abcdefghijklmnop\"\n",
            db.url()
        ),
    )
    .unwrap();

    let mut child = nexus(tmp.path())
        .args([
            "serve",
            "all",
            "--gateway-addr",
            "127.0.0.1:0",
            "--broker-addr",
            "127.0.0.1:0",
            "--config",
        ])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nexus serve");
    let urls = wait_for_listeners(&mut child, &["broker", "gateway"]);
    let (broker_url, gateway_url) = (urls[0].clone(), urls[1].clone());

    let admin = |args: &[&str]| {
        let mut cmd = nexus(tmp.path());
        cmd.args(args).env("NEXUS_BROKER_URL", &broker_url).env(
            "NEXUS_ADMIN_TOKEN",
            "serve-admin-token-0123456789abcdefghijklmnop",
        );
        cmd
    };
    assert_ok(
        &run(admin(&["workspaces", "create", "acme"])),
        "workspaces create",
    );
    let file = write_api_key_provider(tmp.path(), "pgapi");
    let mut apply = admin(&["providers", "apply"]);
    apply.arg(&file);
    assert_ok(&run(apply), "providers apply");
    let secret = "sk_postgres_0123456789abcdef";
    let out = run_with_stdin(
        admin(&[
            "connections",
            "import",
            "--workspace",
            "acme",
            "--provider",
            "pgapi",
            "--kind",
            "api_key",
        ]),
        secret,
    );
    assert_ok(&out, "connections import");
    let out = run(admin(&["api-keys", "create", "--workspace", "acme"]));
    assert_ok(&out, "api-keys create");
    let api_key = stdout(&out).trim().to_owned();

    let (status, body) = resolve_http(&gateway_url, &api_key, "acme", "pgapi");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["credentials"]["api_key"], secret);
    // The key of one workspace opens nothing in another.
    let (status, _) = resolve_http(&gateway_url, &api_key, "other", "pgapi");
    assert_eq!(status, 403);

    let status = terminate(&mut child);
    assert!(status.success(), "{status}");
}

#[test]
fn an_unreachable_database_is_a_config_error() {
    let tmp = tempfile::tempdir().unwrap();
    let refusing = nexus_testkit::RefusingPort::new();
    let closed = refusing.addr();
    let mut cmd = nexus(tmp.path());
    cmd.args(["serve", "broker", "--broker-addr", "127.0.0.1:0"])
        .env(
            "NEXUS_DATABASE_URL",
            format!("postgres://nexus:pw-not-shown@{closed}/nexus"),
        )
        .env("NEXUS_MASTER_KEY", MASTER_KEY)
        .env(
            "NEXUS_ADMIN_TOKEN",
            "admin-token-for-tests-0123456789abcdef",
        )
        .env(
            "NEXUS_INTERNAL_TOKEN",
            "internal-token-for-tests-0123456789abcdef",
        );
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("database"), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("pw-not-shown"),
        "the database password is never shown: {}",
        stderr(&out)
    );
}
