//! `nexus mcp resources …` and the authorization server of a real `nexus dev` stack: a
//! resource registered with the CLI, a client registered over RFC 7591, and a login through
//! the development login (password from dev.env) and the consent page, ending in tokens.

mod common;

use common::{assert_ok, nexus_json, run, stdout};
use serde_json::Value;

const RESOURCE: &str = "http://127.0.0.1:9/mcp";
const REDIRECT: &str = "http://127.0.0.1:33333/callback";

fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).expect(name) + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}

#[test]
fn resources_cli_and_a_dev_login_end_in_tokens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stack = common::DevStack::start(&dir.path().join("home"));
    let added = nexus_json(
        &stack,
        &[
            "mcp",
            "resources",
            "add",
            "--workspace",
            "dev",
            "--url",
            RESOURCE,
            "--scope",
            "notes:read,notes:write",
            "--name",
            "Notes",
        ],
    );
    assert_eq!(added["resource_uri"], RESOURCE);
    assert_eq!(
        added["scopes"],
        serde_json::json!(["notes:read", "notes:write"])
    );
    let listed = nexus_json(&stack, &["mcp", "resources", "list", "--workspace", "dev"]);
    assert_eq!(listed.as_array().unwrap().len(), 1);

    let broker = stack
        .get("NEXUS_BROKER_URL")
        .trim_end_matches('/')
        .to_owned();
    let password = stack.get("NEXUS_DEV_LOGIN_PASSWORD").to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let registered: Value = http
            .post(format!("{broker}/as/register"))
            .json(&serde_json::json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"], "client_name": "cli test"}))
            .send().await.unwrap().json().await.unwrap();
        let client_id = registered["client_id"].as_str().expect("client id").to_owned();
        // RFC 7636 appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        let start = http.get(format!("{broker}/as/authorize"))
            .query(&[("response_type", "code"), ("client_id", &client_id), ("redirect_uri", REDIRECT),
                ("code_challenge", challenge), ("code_challenge_method", "S256"), ("resource", RESOURCE),
                ("scope", "notes:read"), ("state", "s1")])
            .send().await.unwrap();
        assert_eq!(start.status().as_u16(), 303);
        let login_url = start.headers()["location"].to_str().unwrap().to_owned();
        let login = http.get(&login_url).send().await.unwrap().text().await.unwrap();
        assert!(login.contains("Development login"), "{login}");
        let request = hidden(&login, "request");
        let logged_in = http.post(format!("{broker}/as/login/dev")).header("origin", &broker)
            .form(&[("request", request.as_str()), ("csrf", &hidden(&login, "csrf")), ("username", "alice"), ("password", &password)])
            .send().await.unwrap();
        assert_eq!(logged_in.status().as_u16(), 303);
        let cookie = logged_in.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        let consent_url = logged_in.headers()["location"].to_str().unwrap().to_owned();
        let consent = http.get(&consent_url).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
        assert!(consent.contains("cli test") && consent.contains("Notes"), "{consent}");
        let decided = http.post(format!("{broker}/as/consent")).header("origin", &broker).header("cookie", &cookie)
            .form(&[("request", request.as_str()), ("csrf", &hidden(&consent, "csrf")), ("decision", "allow")])
            .send().await.unwrap();
        assert_eq!(decided.status().as_u16(), 303);
        let back = url::Url::parse(decided.headers()["location"].to_str().unwrap()).unwrap();
        let params: std::collections::HashMap<_, _> = back.query_pairs().into_owned().collect();
        assert_eq!(params["iss"], broker);
        let tokens: Value = http.post(format!("{broker}/as/token"))
            .form(&[("grant_type", "authorization_code"), ("code", &params["code"]), ("redirect_uri", REDIRECT),
                ("code_verifier", verifier), ("client_id", &client_id), ("resource", RESOURCE)])
            .send().await.unwrap().json().await.unwrap();
        assert_eq!(tokens["token_type"], "Bearer", "{tokens}");
        assert_eq!(tokens["scope"], "notes:read");
        assert!(tokens["refresh_token"].as_str().unwrap().starts_with("nxr_"));
    });

    let id = added["id"].as_str().unwrap();
    let mut cmd = stack.nexus();
    cmd.args(["mcp", "resources", "disable", "--workspace", "dev", id]);
    let out = run(cmd);
    assert_ok(&out, "disable");
    assert_eq!(stdout(&out).trim(), format!("disabled {id}"));
    let listed = nexus_json(&stack, &["mcp", "resources", "list", "--workspace", "dev"]);
    assert!(listed[0]["disabled_at"].is_string());
}
