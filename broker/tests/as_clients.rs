//! Who a client is: Client ID Metadata Documents fetched from a real loopback server (the
//! draft's same-interface exception, switched on for these tests) under size and time limits,
//! with the documents' rules, caching, and SSRF refusals when the exception is off; and RFC 7591
//! registration (public and confidential clients, Basic authentication, rate limit).

mod as_common;
mod common;

use as_common::*;
use common::TestBroker;

const REDIRECT: &str = "http://127.0.0.1:33333/callback";

/// `/as/authorize` for `client_id`: the (status, body) of the page shown.
async fn authorize_page(broker: &TestBroker, client_id: &str) -> (u16, String, Option<String>) {
    let (_, challenge) = pkce();
    let query = authorize_query(client_id, REDIRECT, &challenge);
    let answer = get(broker, &format!("/as/authorize?{}", encode(&query)), None).await;
    (answer.status, answer.body, answer.location)
}

fn valid_doc(id: &str) -> serde_json::Value {
    serde_json::json!({"client_id": id, "client_name": "Doc Client", "redirect_uris": [REDIRECT]})
}

#[tokio::test]
async fn bad_documents_are_refused_with_their_reason() {
    let db = common::sqlite_db();
    let broker = as_broker(&db.url).await;
    let docs = DocServer::start().await;
    let url = |name: &str| format!("{}/{name}", docs.url);
    let oversized = {
        let mut doc = valid_doc(&url("big"));
        doc["padding"] = serde_json::json!("x".repeat(6 * 1024));
        Doc::json(&doc)
    };
    let mut slow = Doc::json(&valid_doc(&url("slow")));
    slow.body = b"{".to_vec();
    slow.hang = true;
    let mut html = Doc::json(&valid_doc(&url("html")));
    html.content_type = "text/html".into();
    let mut not_json = Doc::json(&valid_doc(&url("notjson")));
    not_json.body = b"{not json".to_vec();
    let mut redirect = Doc::json(&valid_doc(&url("redirect")));
    redirect.status = 302;
    redirect.location = Some(url("client"));
    let mut missing = Doc::json(&valid_doc(&url("gone")));
    missing.status = 404;
    let cases = [
        ("big", oversized, "cimd_too_large"),
        ("slow", slow, "cimd_timeout"),
        ("html", html, "cimd_content_type"),
        ("notjson", not_json, "cimd_not_json"),
        ("redirect", redirect, "cimd_http_status"),
        ("gone", missing, "cimd_http_status"),
        (
            "mismatch",
            Doc::json(&valid_doc("http://127.0.0.1:1/other")),
            "cimd_client_id_mismatch",
        ),
        (
            "noname",
            Doc::json(
                &serde_json::json!({"client_id": url("noname"), "redirect_uris": [REDIRECT]}),
            ),
            "cimd_field_invalid:client_name",
        ),
        (
            "secret",
            Doc::json(
                &serde_json::json!({"client_id": url("secret"), "client_name": "S", "redirect_uris": [REDIRECT], "client_secret": "s"}),
            ),
            "cimd_field_invalid:client_secret",
        ),
        (
            "badredirect",
            Doc::json(
                &serde_json::json!({"client_id": url("badredirect"), "client_name": "S", "redirect_uris": ["http://evil.example/cb"]}),
            ),
            "cimd_field_invalid:redirect_uris",
        ),
    ];
    for (name, doc, reason) in cases {
        docs.put(name, doc);
        let (status, body, location) = authorize_page(&broker, &url(name)).await;
        assert_eq!((status, location), (400, None), "{name}: {body}");
        assert!(body.contains(reason), "{name}: expected {reason} in {body}");
    }
    // URL shapes refused before any fetch.
    for id in [
        format!("{}/", docs.url),
        format!("{}/a?x=1", docs.url),
        format!("{}/a/../b", docs.url),
    ] {
        let (status, body, _) = authorize_page(&broker, &id).await;
        assert_eq!(status, 400, "{id}");
        assert!(body.contains("cimd_url_invalid"), "{id}: {body}");
    }
    // A failure is cached briefly: the server is not asked again at once.
    let before = docs.hits.lock()["gone"];
    authorize_page(&broker, &url("gone")).await;
    assert_eq!(docs.hits.lock()["gone"], before, "negative cache");
}

#[tokio::test]
async fn good_documents_are_cached() {
    let db = common::sqlite_db();
    let broker = as_broker(&db.url).await;
    let docs = DocServer::start().await;
    let id = docs.client("client.json", REDIRECT);
    for _ in 0..3 {
        let (status, body, location) = authorize_page(&broker, &id).await;
        assert_eq!(status, 303, "{body}");
        assert!(location.unwrap().contains("/as/login?request="));
    }
    assert_eq!(
        docs.hits.lock()["client.json"],
        1,
        "fetched once, then cached"
    );
}

#[tokio::test]
async fn without_the_loopback_exception_private_addresses_are_refused() {
    let db = common::sqlite_db();
    let mut config = as_config(&db.url);
    config.authorization_server.cimd_allow_loopback = false;
    let broker = TestBroker::start(config).await;
    broker.create_workspace(WS).await;
    add_resource(&broker, WS, RESOURCE).await;
    let docs = DocServer::start().await;
    let port = docs.url.rsplit(':').next().unwrap().to_owned();
    docs.client("client.json", REDIRECT);
    // Over https (the only scheme then): every special-use address is refused before connecting.
    for host in [
        "127.0.0.1",
        "localhost",
        "[::1]",
        "10.0.0.1",
        "169.254.169.254",
        "192.168.0.1",
        "[fd00::1]",
    ] {
        let id = format!("https://{host}:{port}/client.json");
        let (status, body, location) = authorize_page(&broker, &id).await;
        assert_eq!((status, location), (400, None), "{host}");
        assert!(body.contains("cimd_address_refused"), "{host}: {body}");
    }
    // Plain http is not a document URL at all then: an unknown client.
    let (status, body, _) = authorize_page(&broker, &format!("{}/client.json", docs.url)).await;
    assert_eq!(status, 400);
    assert!(body.contains("client_unknown"), "{body}");
    assert!(docs.hits.lock().is_empty(), "nothing was fetched");
}

#[tokio::test]
async fn registration_issues_public_and_confidential_clients() {
    let db = common::sqlite_db();
    let broker = as_broker(&db.url).await;
    let register = |body: serde_json::Value| {
        let broker = &broker;
        async move {
            TestBroker::send(
                broker
                    .http
                    .post(format!("{}/as/register", broker.url))
                    .json(&body),
            )
            .await
        }
    };
    for (body, error) in [
        (serde_json::json!({}), "invalid_redirect_uri"),
        (
            serde_json::json!({"redirect_uris": ["http://evil.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            serde_json::json!({"redirect_uris": ["http://127.0.0.1@evil.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            serde_json::json!({"redirect_uris": [REDIRECT], "application_type": "web"}),
            "invalid_redirect_uri",
        ),
        (
            serde_json::json!({"redirect_uris": [REDIRECT], "grant_types": ["implicit"]}),
            "invalid_client_metadata",
        ),
        (
            serde_json::json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
        ),
        (
            serde_json::json!({"redirect_uris": "not a list"}),
            "invalid_client_metadata",
        ),
    ] {
        let (status, answer) = register(body.clone()).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some(error)),
            "{body}: {answer}"
        );
    }
    // A public client (what MCP clients register): no secret.
    let (status, public) = register(serde_json::json!({
        "redirect_uris": [REDIRECT], "client_name": "CLI", "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"]
    }))
    .await;
    assert_eq!(status, 201, "{public}");
    assert!(public["client_id"].as_str().unwrap().starts_with("ocl_"));
    assert!(public.get("client_secret").is_none());
    // A confidential client (default method): the secret once, stored hashed.
    let (status, confidential) = register(serde_json::json!({
        "redirect_uris": [REDIRECT], "grant_types": ["authorization_code", "refresh_token"]
    }))
    .await;
    assert_eq!(status, 201, "{confidential}");
    assert_eq!(
        confidential["token_endpoint_auth_method"],
        "client_secret_basic"
    );
    let client_id = confidential["client_id"].as_str().unwrap().to_owned();
    let secret = confidential["client_secret"].as_str().unwrap().to_owned();
    let pool = common::raw_pool(&db.url).await;
    let stored: String =
        sqlx::query_scalar("SELECT client_secret_hash FROM oauth_clients WHERE client_id = $1")
            .bind(&client_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_ne!(stored, secret);
    assert_eq!(stored.len(), 64, "a SHA-256");

    // The confidential client authorizes with Basic authentication at the token endpoint.
    let (verifier, challenge) = pkce();
    let (location, _) = authorize_as(
        &broker,
        &authorize_query(&client_id, REDIRECT, &challenge),
        "bob",
    )
    .await;
    let code = query_of(&location)["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
        ("resource", RESOURCE),
    ];
    let wrong = broker
        .http
        .post(format!("{}/as/token", broker.url))
        .basic_auth(&client_id, Some("wrong"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    assert_eq!(
        wrong.headers()["www-authenticate"],
        "Basic realm=\"nexus-as\""
    );
    let body: serde_json::Value = wrong.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    // Without any secret: the public method is not this client's.
    let (status, body) = token(
        &broker,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", client_id.as_str()),
            ("code", code.as_str()),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let (status, tokens) = TestBroker::send(
        broker
            .http
            .post(format!("{}/as/token", broker.url))
            .basic_auth(&client_id, Some(&secret))
            .form(&form),
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens["refresh_token"].is_string());
}

#[tokio::test]
async fn open_registration_is_rate_limited_per_address() {
    let db = common::sqlite_db();
    let mut config = as_config(&db.url);
    config.authorization_server.registrations_per_minute = 2;
    let broker = TestBroker::start(config).await;
    let body =
        serde_json::json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"});
    let mut statuses = vec![];
    for _ in 0..3 {
        let resp = broker
            .http
            .post(format!("{}/as/register", broker.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        statuses.push(resp.status().as_u16());
        if resp.status().as_u16() == 429 {
            assert!(resp.headers().contains_key("retry-after"));
            let answer: serde_json::Value = resp.json().await.unwrap();
            assert_eq!(answer["error"], "temporarily_unavailable");
        }
    }
    assert_eq!(statuses, [201, 201, 429]);
}
