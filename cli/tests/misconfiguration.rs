//! Every misconfiguration ends with a clear message and its documented exit code, never a
//! panic: 2 usage/config, 3 not reachable, 4 rejected.

mod common;

use common::*;

const VALID_MASTER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="; // 32 bytes
const ADMIN_TOKEN: &str = "admin-token-for-tests-0123456789abcdef";
const INTERNAL_TOKEN: &str = "internal-token-for-tests-0123456789abcdef";

fn assert_no_panic(out: &std::process::Output) {
    let err = stderr(out);
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "a panic:\n{err}"
    );
}

#[test]
fn a_port_in_use_is_a_config_error_and_writes_no_dev_env() {
    let tmp = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut cmd = nexus(tmp.path());
    cmd.args([
        "dev",
        "--gateway-addr",
        &addr,
        "--broker-addr",
        "127.0.0.1:0",
    ]);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("already in use"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--gateway-addr"),
        "the message names the flag: {}",
        stderr(&out)
    );
    assert!(!tmp.path().join("dev.env").exists());
    assert_no_panic(&out);
}

/// `nexus serve broker` with a complete environment except what `vars` overrides.
fn serve_broker(home: &std::path::Path, vars: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = nexus(home);
    cmd.args(["serve", "broker", "--broker-addr", "127.0.0.1:0"])
        .env("NEXUS_MASTER_KEY", VALID_MASTER_KEY)
        .env("NEXUS_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("NEXUS_INTERNAL_TOKEN", INTERNAL_TOKEN);
    for (k, v) in vars {
        if v.is_empty() {
            cmd.env_remove(k);
        } else {
            cmd.env(k, v);
        }
    }
    run(cmd)
}

#[test]
fn a_bad_database_url_is_a_config_error() {
    let tmp = tempfile::tempdir().unwrap();
    for url in ["not a url", "mysql://127.0.0.1/nexus"] {
        let out = serve_broker(tmp.path(), &[("NEXUS_DATABASE_URL", url)]);
        assert_eq!(out.status.code(), Some(2), "{url}: {}", stderr(&out));
        assert!(stderr(&out).contains("database"), "{url}: {}", stderr(&out));
        assert_no_panic(&out);
    }
}

#[test]
fn a_missing_master_key_is_a_config_error_that_names_it() {
    let tmp = tempfile::tempdir().unwrap();
    let out = serve_broker(tmp.path(), &[("NEXUS_MASTER_KEY", "")]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("NEXUS_MASTER_KEY"),
        "{}",
        stderr(&out)
    );
    let out = serve_broker(tmp.path(), &[("NEXUS_MASTER_KEY", "too-short")]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("too-short"),
        "the key is never echoed: {}",
        stderr(&out)
    );
}

#[test]
fn weak_service_tokens_are_refused_at_start_up() {
    let tmp = tempfile::tempdir().unwrap();
    let short = "x"; // the one-character admin token `nexus serve` used to accept
    for (vars, named) in [
        (
            vec![("NEXUS_ADMIN_TOKEN", short)],
            "NEXUS_ADMIN_TOKEN is too short",
        ),
        (
            vec![("NEXUS_INTERNAL_TOKEN", "internal-but-short")],
            "NEXUS_INTERNAL_TOKEN is too short",
        ),
        (vec![("NEXUS_INTERNAL_TOKEN", ADMIN_TOKEN)], "are the same"),
    ] {
        let out = serve_broker(tmp.path(), &vars);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(named), "{err}");
        assert!(!err.contains("listening"), "it never started: {err}");
        assert!(
            !err.contains(ADMIN_TOKEN) && !err.contains("internal-but-short"),
            "no token is shown: {err}"
        );
        assert_no_panic(&out);
    }
    // A gateway alone checks its internal token too.
    let mut cmd = nexus(tmp.path());
    cmd.args(["serve", "gateway", "--gateway-addr", "127.0.0.1:0"])
        .env("NEXUS_BROKER_URL", "http://127.0.0.1:9")
        .env("NEXUS_INTERNAL_TOKEN", "short");
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("NEXUS_INTERNAL_TOKEN is too short"));
}

#[test]
fn a_missing_admin_token_is_a_config_error_that_names_it() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = nexus(tmp.path());
    cmd.args(["providers", "list"])
        .env("NEXUS_BROKER_URL", "http://127.0.0.1:9");
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("NEXUS_ADMIN_TOKEN"),
        "{}",
        stderr(&out)
    );
    assert_no_panic(&out);

    // Without any setting and no dev.env, the hint says how to get one.
    let out = run({
        let mut c = nexus(tmp.path());
        c.args(["providers", "list"]);
        c
    });
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("nexus dev"), "{}", stderr(&out));
}

#[test]
fn an_unreachable_broker_exits_3() {
    let tmp = tempfile::tempdir().unwrap();
    let refusing = nexus_testkit::RefusingPort::new();
    let closed = refusing.addr();
    let mut cmd = nexus(tmp.path());
    cmd.args(["providers", "list"])
        .env("NEXUS_BROKER_URL", format!("http://{closed}"))
        .env("NEXUS_ADMIN_TOKEN", "whatever-token-value");
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot reach the broker"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("whatever-token-value"));
}

#[test]
fn a_rejected_admin_token_or_api_key_exits_4() {
    let tmp = tempfile::tempdir().unwrap();
    let stack = DevStack::start(&tmp.path().join("home"));
    let mut cmd = stack.nexus();
    cmd.args(["providers", "list"])
        .env("NEXUS_ADMIN_TOKEN", "wrong-admin-token");
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("wrong-admin-token"),
        "the token is never echoed"
    );

    let mut cmd = stack.nexus();
    cmd.args(["resolve", "--workspace", "dev", "--provider", "x"])
        .env("NEXUS_API_KEY", "nxk_wrong");
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));

    // The right token from dev.env works: the environment only overrode it above.
    let mut cmd = stack.nexus();
    cmd.args(["providers", "list"]);
    assert_ok(&run(cmd), "providers list with dev.env");
}

#[test]
fn bad_arguments_are_usage_errors() {
    let tmp = tempfile::tempdir().unwrap();
    for args in [
        vec!["providers"],
        vec!["dev", "--gateway-addr", "not-an-address"],
        vec![
            "connections",
            "import",
            "--workspace",
            "dev",
            "--provider",
            "p",
            "--kind",
            "password",
        ],
        vec!["serve", "everything"],
    ] {
        let mut cmd = nexus(tmp.path());
        cmd.args(&args);
        let out = run(cmd);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert_no_panic(&out);
    }
    let mut cmd = nexus(tmp.path());
    cmd.args(["connections", "list", "--workspace", "Not/Valid"])
        .env("NEXUS_BROKER_URL", "http://127.0.0.1:9")
        .env("NEXUS_ADMIN_TOKEN", "t");
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("workspace id"), "{}", stderr(&out));
}

#[test]
fn an_unreadable_providers_file_is_a_config_error() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = nexus(tmp.path());
    cmd.args(["providers", "apply", "/nonexistent/providers.yaml"])
        .env("NEXUS_BROKER_URL", "http://127.0.0.1:9")
        .env("NEXUS_ADMIN_TOKEN", "t");
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("/nonexistent/providers.yaml"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_second_stack_on_the_same_home_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let stack = DevStack::start(&home);
    let before = std::fs::read_to_string(home.join("dev.env")).unwrap();
    let mut second = nexus(&home);
    second.args([
        "dev",
        "--gateway-addr",
        "127.0.0.1:0",
        "--broker-addr",
        "127.0.0.1:0",
    ]);
    let out = run(second);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("already running"), "{}", stderr(&out));
    let after = std::fs::read_to_string(home.join("dev.env")).unwrap();
    assert_eq!(before, after, "the running stack's dev.env is untouched");
    let mut list = stack.nexus();
    list.args(["providers", "list"]);
    assert_ok(&run(list), "the first stack still serves");
}
