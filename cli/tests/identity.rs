//! `nexus agents …`, `nexus idp …` and `nexus audit verify` against a real `nexus dev` stack;
//! the audit chain is tampered with directly in the stack's SQLite database.

mod common;

use common::{DevStack, assert_ok, nexus_json, run, stderr, stdout};
use serde_json::Value;

fn nexus_out(stack: &DevStack, args: &[&str]) -> std::process::Output {
    let mut cmd = stack.nexus();
    cmd.args(args);
    run(cmd)
}

#[test]
fn agents_identity_providers_and_audit_verify() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let stack = DevStack::start(&home);

    // Create: only the credential on stdout.
    let out = nexus_out(
        &stack,
        &[
            "agents",
            "create",
            "--workspace",
            "dev",
            "--name",
            "support-bot",
            "--scope",
            "crm:contacts:read",
            "--scope",
            "provider:github:repo acme:gliding",
            "--max-session-ttl",
            "600",
        ],
    );
    assert_ok(&out, "agents create");
    let credential = stdout(&out).trim().to_owned();
    assert!(credential.starts_with("nxa_"), "{credential}");
    assert!(!stderr(&out).contains(&credential));

    let agents = nexus_json(&stack, &["agents", "list", "--workspace", "dev"]);
    let agent = &agents.as_array().expect("list")[0];
    let agent_id = agent["agent_id"].as_str().expect("id").to_owned();
    assert_eq!(
        agent["scopes"],
        serde_json::json!(["crm:contacts:read", "provider:github:repo", "acme:gliding"])
    );
    assert_eq!(agent["max_session_ttl_seconds"], 600);
    assert!(!agents.to_string().contains(&credential));

    let out = nexus_out(
        &stack,
        &["agents", "disable", "--workspace", "dev", &agent_id],
    );
    assert_ok(&out, "agents disable");
    let agents = nexus_json(&stack, &["agents", "list", "--workspace", "dev"]);
    assert_eq!(agents[0]["disabled"], true);
    let out = nexus_out(
        &stack,
        &["agents", "enable", "--workspace", "dev", &agent_id],
    );
    assert_ok(&out, "agents enable");

    let out = nexus_out(
        &stack,
        &["agents", "rotate", "--workspace", "dev", &agent_id],
    );
    assert_ok(&out, "agents rotate");
    let rotated = stdout(&out).trim().to_owned();
    assert!(rotated.starts_with("nxa_") && rotated != credential);

    // Unknown agent: the broker's 404, exit code 1; a malformed id never reaches it (2).
    let out = nexus_out(
        &stack,
        &[
            "agents",
            "disable",
            "--workspace",
            "dev",
            "agt_0000000000000000",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let out = nexus_out(&stack, &["agents", "disable", "--workspace", "dev", "../x"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    // Trusted issuers.
    let added = nexus_json(
        &stack,
        &[
            "idp",
            "add",
            "--workspace",
            "dev",
            "--issuer",
            "https://login.example.com",
            "--audience",
            "nexus-app",
        ],
    );
    let idp_id = added["id"].as_str().expect("id").to_owned();
    assert_eq!(
        added["allow_id_jag"], false,
        "not trusted for ID-JAGs unless asked"
    );
    let id_jag = nexus_json(
        &stack,
        &[
            "idp",
            "add",
            "--workspace",
            "dev",
            "--issuer",
            "https://corp-idp.example.com",
            "--jwks-url",
            "https://corp-idp.example.com/keys",
            "--allow-id-jag",
        ],
    );
    assert_eq!(id_jag["allow_id_jag"], true, "{id_jag}");
    let listed = nexus_json(&stack, &["idp", "list", "--workspace", "dev"]);
    assert_eq!(listed[0]["issuer"], "https://login.example.com");
    assert_eq!(listed[0]["jwks_url"], Value::Null);
    let trusted_for_id_jag: Vec<&Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["allow_id_jag"] == true)
        .collect();
    assert_eq!(trusted_for_id_jag.len(), 1, "{listed}");
    assert_eq!(
        trusted_for_id_jag[0]["issuer"],
        "https://corp-idp.example.com"
    );
    let table = nexus_out(&stack, &["idp", "list", "--workspace", "dev"]);
    assert_ok(&table, "idp list");
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    assert!(table.lines().next().unwrap().contains("ID-JAG"), "{table}");
    assert!(table.contains("true"), "{table}");
    for id in [idp_id.as_str(), id_jag["id"].as_str().unwrap()] {
        let out = nexus_out(&stack, &["idp", "remove", "--workspace", "dev", id]);
        assert_ok(&out, "idp remove");
    }
    assert_eq!(
        nexus_json(&stack, &["idp", "list", "--workspace", "dev"]),
        serde_json::json!([])
    );

    // A login client for browser sign-in and a console rule: the secret goes in from a file,
    // is never printed back or listed.
    let secrets = tempfile::tempdir().expect("tempdir");
    let secret_file = secrets.path().join("login.secret");
    std::fs::write(&secret_file, "login-s3cr3t-value\n").unwrap();
    let login_args = [
        "idp",
        "add",
        "--workspace",
        "dev",
        "--issuer",
        "https://sso.example.com",
        "--login-client-id",
        "nexus-login",
        "--login-client-secret-file",
        secret_file.to_str().unwrap(),
        "--console-allow-group",
        "nexus-ops",
        "--console-allow-email",
        "ops@example.com",
    ];
    let out = nexus_out(&stack, &login_args);
    assert_ok(&out, "idp add with login");
    assert!(!stdout(&out).contains("s3cr3t") && !stderr(&out).contains("s3cr3t"));
    let listed = nexus_json(&stack, &["idp", "list", "--workspace", "dev"]);
    assert_eq!(listed[0]["login_client_id"], "nexus-login");
    assert_eq!(
        listed[0]["console"]["groups"],
        serde_json::json!(["nexus-ops"])
    );
    assert_eq!(
        listed[0]["console"]["emails"],
        serde_json::json!(["ops@example.com"])
    );
    assert_eq!(listed[0]["console"]["groups_claim"], "groups");
    assert!(!listed.to_string().contains("s3cr3t"));
    let table = nexus_out(&stack, &["idp", "list", "--workspace", "dev"]);
    assert!(stdout(&table).contains("nexus-login") && !stdout(&table).contains("s3cr3t"));
    // A console rule without a login client is refused, naming the flag's field.
    let out = nexus_out(
        &stack,
        &[
            "idp",
            "add",
            "--workspace",
            "dev",
            "--issuer",
            "https://other.example.com",
            "--console-allow-group",
            "nexus-ops",
        ],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("login_client_id"), "{}", stderr(&out));
    let id = listed[0]["id"].as_str().unwrap().to_owned();
    assert_ok(
        &nexus_out(&stack, &["idp", "remove", "--workspace", "dev", &id]),
        "idp remove",
    );

    // The audit log by agent, and the chain holds.
    let records = nexus_json(&stack, &["audit", "--workspace", "dev"]);
    let actions: Vec<&str> = records
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["action"].as_str())
        .collect();
    for action in [
        "agent.created",
        "agent.disabled",
        "agent.enabled",
        "agent.credential_rotated",
        "identity_provider.added",
        "identity_provider.removed",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    let out = nexus_out(&stack, &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("ok"), "{}", stdout(&out));
    let verdict = nexus_json(&stack, &["audit", "verify", "--workspace", "dev"]);
    assert_eq!(verdict["ok"], true);

    // Edit one field of one record in the database: exit code 5, naming the record.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let edited: i64 = rt.block_on(async {
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}", home.join("nexus.db").display());
        let db = sqlx::AnyPool::connect(&url).await.expect("open nexus.db");
        let id: i64 = sqlx::query_scalar::<_, i64>(
            "SELECT MIN(id) FROM audit_events WHERE action = 'agent.disabled'",
        )
        .fetch_one(&db)
        .await
        .expect("record");
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE audit_events SET target = 'someone-else' WHERE id = {id}"
        )))
        .execute(&db)
        .await
        .expect("tamper");
        id
    });
    let out = nexus_out(&stack, &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("broken at record {edited}")),
        "{}",
        stderr(&out)
    );
    let mut cmd = stack.nexus();
    cmd.args(["--json", "audit", "verify", "--workspace", "dev"]);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(5));
    let verdict: Value = serde_json::from_str(&stdout(&out)).expect("JSON verdict");
    assert_eq!(verdict["ok"], false);
    assert_eq!(verdict["first_broken_id"], edited);
}
