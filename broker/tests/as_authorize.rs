//! `/as/authorize` and the pages over real HTTP: RFC 8414 metadata, exact redirect matching
//! (refusals are pages, never redirects), PKCE and resource failures redirected with `error`,
//! `state` and `iss`, CSRF and `Origin` checks on the forms, the pages' security headers, a
//! denial.

mod as_common;
mod common;

use as_common::*;
use common::TestBroker;

#[tokio::test]
async fn metadata_says_what_is_implemented() {
    let db = common::sqlite_db();
    let broker = as_broker(&db.url).await;
    let (status, m) = TestBroker::send(broker.http.get(format!(
        "{}/.well-known/oauth-authorization-server",
        broker.url
    )))
    .await;
    assert_eq!(status, 200);
    let iss = &broker.url;
    assert_eq!(m["issuer"], *iss);
    assert_eq!(m["authorization_endpoint"], format!("{iss}/as/authorize"));
    assert_eq!(m["token_endpoint"], format!("{iss}/as/token"));
    assert_eq!(m["registration_endpoint"], format!("{iss}/as/register"));
    assert_eq!(m["revocation_endpoint"], format!("{iss}/as/revoke"));
    assert_eq!(m["jwks_uri"], format!("{iss}/as/jwks"));
    assert_eq!(
        m["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(m["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        m["grant_types_supported"],
        serde_json::json!([
            "authorization_code",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:jwt-bearer"
        ])
    );
    assert_eq!(
        m["authorization_grant_profiles_supported"],
        serde_json::json!(["urn:ietf:params:oauth:grant-profile:id-jag"])
    );
    assert_eq!(m["client_id_metadata_document_supported"], true);
    assert_eq!(m["authorization_response_iss_parameter_supported"], true);
    assert!(
        m.get("scopes_supported").is_none(),
        "scopes are per resource"
    );
    // Served only at the path derived from the issuer (no path here).
    let (status, _) = TestBroker::send(broker.http.get(format!(
        "{}/.well-known/oauth-authorization-server/tenant",
        broker.url
    )))
    .await;
    assert_eq!(status, 404);
    let (status, jwks) = TestBroker::send(broker.http.get(format!("{}/as/jwks", broker.url))).await;
    assert_eq!(status, 200);
    assert_eq!(jwks["keys"][0]["kty"], "EC");
    assert!(jwks["keys"][0].get("d").is_none(), "no private part");
}

#[tokio::test]
async fn an_issuer_with_a_path_gets_path_aware_metadata_and_registration_can_be_off() {
    let db = common::sqlite_db();
    let mut config = as_config(&db.url);
    config.authorization_server.registration_open = false;
    // The issuer is configuration: a path on the broker's own (loopback) origin.
    let listener_probe = TestBroker::start(config.clone()).await;
    let issuer = format!("{}/tenant-a", listener_probe.url);
    drop(listener_probe);
    config.authorization_server.issuer = Some(issuer.clone());
    let broker = TestBroker::start(config).await;
    let issuer = issuer.replace(&issuer[..issuer.rfind('/').unwrap()], &broker.url);
    // Started again on a new port: the configured issuer keeps the old port, which shows the
    // issuer is taken from configuration, not from the request's Host.
    let (status, m) = TestBroker::send(broker.http.get(format!(
        "{}/.well-known/oauth-authorization-server/tenant-a",
        broker.url
    )))
    .await;
    assert_eq!(status, 200, "{m}");
    assert!(m["issuer"].as_str().unwrap().ends_with("/tenant-a"));
    assert_ne!(m["issuer"], issuer, "not derived from the Host header");
    assert!(m.get("registration_endpoint").is_none());
    let (status, _) = TestBroker::send(broker.http.get(format!(
        "{}/.well-known/oauth-authorization-server",
        broker.url
    )))
    .await;
    assert_eq!(status, 404);
    let (status, body) = TestBroker::send(
        broker
            .http
            .post(format!("{}/as/register", broker.url))
            .json(&serde_json::json!({"redirect_uris": ["http://127.0.0.1:1/cb"]})),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("access_denied")),
        "{body}"
    );
}

#[tokio::test]
async fn redirect_uri_tricks_get_a_page_and_no_redirect() {
    let db = common::sqlite_db();
    let broker = as_broker(&db.url).await;
    let docs = DocServer::start().await;
    let registered = "http://127.0.0.1:33333/callback";
    let client_id = docs.client("client.json", registered);
    let (_, challenge) = pkce();
    for trick in [
        "http://127.0.0.1:33334/callback",
        "http://127.0.0.1:33333/callback/",
        "http://127.0.0.1:33333/callback?x=1",
        "http://127.0.0.1:33333/Callback",
        "http://127.0.0.1:33333/%63allback",
        "http://localhost:33333/callback",
        "http://127.0.0.1:33333@evil.example/callback",
        "http://127.0.0.1:33333/callback#frag",
        "HTTP://127.0.0.1:33333/callback",
    ] {
        let query = with(
            authorize_query(&client_id, registered, &challenge),
            "redirect_uri",
            Some(trick),
        );
        let answer = get(&broker, &format!("/as/authorize?{}", encode(&query)), None).await;
        assert_eq!(answer.status, 400, "{trick}");
        assert!(answer.location.is_none(), "{trick}: must not redirect");
        assert!(
            answer.body.contains("redirect_uri"),
            "{trick}: {}",
            answer.body
        );
    }
    // Unknown client and a missing redirect URI: pages too.
    for query in [
        with(
            authorize_query("ocl_nobody", registered, &challenge),
            "client_id",
            Some("ocl_nobody"),
        ),
        with(
            authorize_query(&client_id, registered, &challenge),
            "redirect_uri",
            None,
        ),
    ] {
        let answer = get(&broker, &format!("/as/authorize?{}", encode(&query)), None).await;
        assert_eq!(
            (answer.status, answer.location.is_none()),
            (400, true),
            "{}",
            answer.body
        );
    }
}

#[tokio::test]
async fn request_errors_go_back_to_the_client_with_state_and_iss() {
    let db = common::sqlite_db();
    let broker = as_broker(&db.url).await;
    add_resource(&broker, WS, "http://127.0.0.1:12/disabled").await;
    let (_, listed) = TestBroker::send(broker.admin(
        reqwest::Method::GET,
        &format!("/admin/v1/workspaces/{WS}/mcp-resources"),
    ))
    .await;
    let disabled_id = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resource_uri"] == "http://127.0.0.1:12/disabled")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = TestBroker::send(broker.admin(
        reqwest::Method::POST,
        &format!("/admin/v1/workspaces/{WS}/mcp-resources/{disabled_id}/disable"),
    ))
    .await;
    assert_eq!(status, 204);
    let docs = DocServer::start().await;
    let redirect_uri = "http://127.0.0.1:33333/callback";
    let client_id = docs.client("client.json", redirect_uri);
    let (_, challenge) = pkce();
    let base = authorize_query(&client_id, redirect_uri, &challenge);
    let cases = [
        (
            with(base.clone(), "code_challenge_method", Some("plain")),
            "invalid_request",
        ),
        (
            with(base.clone(), "code_challenge_method", None),
            "invalid_request",
        ),
        (
            with(base.clone(), "code_challenge", None),
            "invalid_request",
        ),
        (
            with(base.clone(), "code_challenge", Some("too-short")),
            "invalid_request",
        ),
        (
            with(base.clone(), "response_type", Some("token")),
            "unsupported_response_type",
        ),
        (with(base.clone(), "resource", None), "invalid_target"),
        (
            with(base.clone(), "resource", Some("http://127.0.0.1:9/other")),
            "invalid_target",
        ),
        (
            with(
                base.clone(),
                "resource",
                Some("http://127.0.0.1:12/disabled"),
            ),
            "invalid_target",
        ),
        (
            [base.clone(), vec![("resource".into(), RESOURCE.into())]].concat(),
            "invalid_target",
        ),
        (
            with(base.clone(), "scope", Some("notes:read admin")),
            "invalid_scope",
        ),
        (
            with(base.clone(), "prompt", Some("select_account")),
            "invalid_request",
        ),
    ];
    for (query, expected) in cases {
        let answer = get(&broker, &format!("/as/authorize?{}", encode(&query)), None).await;
        assert_eq!(answer.status, 303, "{expected}: {}", answer.body);
        let location = answer.location.unwrap();
        assert!(
            location.starts_with(&format!("{redirect_uri}?")),
            "{location}"
        );
        let params = query_of(&location);
        assert_eq!(params["error"], expected, "{location}");
        assert_eq!(params["state"], "st-123");
        assert_eq!(params["iss"], broker.url);
        assert!(!params.contains_key("code"));
    }
    // Rule R: the resource with a trailing slash on a root path, or an upper-case host, is the same.
    add_resource(&broker, WS, "http://127.0.0.1:13").await;
    let query = with(base.clone(), "resource", Some("http://127.0.0.1:13/"));
    let answer = get(&broker, &format!("/as/authorize?{}", encode(&query)), None).await;
    assert!(
        answer
            .location
            .unwrap()
            .starts_with(&format!("{}/as/login?", broker.url))
    );
    // prompt=none without a login: login_required, back to the client.
    let query = with(base, "prompt", Some("none"));
    let answer = get(&broker, &format!("/as/authorize?{}", encode(&query)), None).await;
    assert_eq!(
        query_of(&answer.location.unwrap())["error"],
        "login_required"
    );
}

#[tokio::test]
async fn forms_need_our_origin_and_their_one_time_csrf_token() {
    let db = common::sqlite_db();
    let broker = as_broker(&db.url).await;
    let docs = DocServer::start().await;
    let redirect_uri = "http://127.0.0.1:33333/callback";
    let client_id = docs.client("client.json", redirect_uri);
    let (_, challenge) = pkce();
    let query = authorize_query(&client_id, redirect_uri, &challenge);
    let start = get(&broker, &format!("/as/authorize?{}", encode(&query)), None).await;
    let login = get(
        &broker,
        start.location.unwrap().strip_prefix(&broker.url).unwrap(),
        None,
    )
    .await;
    for header in [
        "content-security-policy",
        "x-frame-options",
        "referrer-policy",
        "cache-control",
        "x-content-type-options",
    ] {
        assert!(
            login.headers.contains_key(header),
            "{header} on the login page"
        );
    }
    let csp = login.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!login.body.contains("<script"), "no JavaScript");
    let request = hidden(&login.body, "request");
    let csrf = hidden(&login.body, "csrf");
    let login_form = |csrf: &str, password: &str| {
        vec![
            ("request", request.clone()),
            ("csrf", csrf.to_owned()),
            ("username", "alice".to_owned()),
            ("password", password.to_owned()),
        ]
    };
    let as_refs = |v: &Vec<(&'static str, String)>| {
        v.iter().map(|(k, v)| (*k, v.clone())).collect::<Vec<_>>()
    };
    let post = |form: Vec<(&'static str, String)>, origin: Option<String>| {
        let broker = &broker;
        async move {
            let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post_form(broker, "/as/login/dev", &refs, None, origin.as_deref()).await
        }
    };
    // Foreign or missing Origin: 403, the token is not consumed.
    assert_eq!(
        post(
            as_refs(&login_form(&csrf, DEV_PASSWORD)),
            Some("http://evil.example".into())
        )
        .await
        .status,
        403
    );
    assert_eq!(
        post(as_refs(&login_form(&csrf, DEV_PASSWORD)), None)
            .await
            .status,
        403
    );
    // `Origin: null` (Chromium, from our no-referrer pages) counts only with the browser's
    // `Sec-Fetch-Site: same-origin`; a cross-site or missing fetch site is refused.
    for fetch_site in [None, Some("cross-site"), Some("same-site")] {
        let mut req = broker
            .http
            .post(format!("{}/as/login/dev", broker.url))
            .header("origin", "null")
            .form(&login_form(&csrf, DEV_PASSWORD));
        if let Some(site) = fetch_site {
            req = req.header("sec-fetch-site", site);
        }
        let status = req.send().await.unwrap().status().as_u16();
        assert_eq!(
            status, 403,
            "Origin: null with Sec-Fetch-Site {fetch_site:?}"
        );
    }
    // A wrong token: 403.
    assert_eq!(
        post(
            as_refs(&login_form("forged", DEV_PASSWORD)),
            Some(broker.url.clone())
        )
        .await
        .status,
        403
    );
    // The right token with a wrong password: 401, and the token is spent.
    let wrong = post(
        as_refs(&login_form(&csrf, "wrong")),
        Some(broker.url.clone()),
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert!(
        !wrong.body.contains("wrong") || wrong.body.contains("Wrong username"),
        "no echo"
    );
    assert_eq!(
        post(
            as_refs(&login_form(&csrf, DEV_PASSWORD)),
            Some(broker.url.clone())
        )
        .await
        .status,
        403,
        "single use"
    );
    // A fresh page, a fresh token: works.
    let login = get(&broker, &format!("/as/login?request={request}"), None).await;
    let csrf2 = hidden(&login.body, "csrf");
    let ok = post(
        as_refs(&login_form(&csrf2, DEV_PASSWORD)),
        Some(broker.url.clone()),
    )
    .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    let cookie = ok.headers["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    // The consent page: CSP lets the form reach the client's redirect origin, nothing else.
    let consent = get(
        &broker,
        ok.location.unwrap().strip_prefix(&broker.url).unwrap(),
        Some(&cookie),
    )
    .await;
    assert_eq!(consent.status, 200);
    let csp = consent.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("form-action 'self' http://127.0.0.1:33333;"),
        "{csp}"
    );
    assert!(
        consent.body.contains("Test Client")
            && consent.body.contains(">Allow<")
            && consent.body.contains(">Deny<")
    );
    assert!(
        consent.body.contains("runs on this computer"),
        "loopback warning"
    );
    let consent_csrf = hidden(&consent.body, "csrf");
    // Without the login cookie the decision is refused; with a foreign origin too.
    let decide =
        |csrf: String, cookie: Option<String>, origin: Option<String>, decision: &'static str| {
            let broker = &broker;
            let request = request.clone();
            async move {
                post_form(
                    broker,
                    "/as/consent",
                    &[
                        ("request", &request),
                        ("csrf", &csrf),
                        ("decision", decision),
                    ],
                    cookie.as_deref(),
                    origin.as_deref(),
                )
                .await
            }
        };
    assert_eq!(
        decide(
            consent_csrf.clone(),
            Some(cookie.clone()),
            Some("http://evil.example".into()),
            "allow"
        )
        .await
        .status,
        403
    );
    let no_cookie = decide(
        consent_csrf.clone(),
        None,
        Some(broker.url.clone()),
        "allow",
    )
    .await;
    assert_eq!(
        (no_cookie.status, no_cookie.location.is_none()),
        (403, true)
    );
    // The token was spent by that attempt; a new consent page, then Deny.
    let consent = get(
        &broker,
        &format!("/as/consent?request={request}"),
        Some(&cookie),
    )
    .await;
    let denied = decide(
        hidden(&consent.body, "csrf"),
        Some(cookie.clone()),
        Some(broker.url.clone()),
        "deny",
    )
    .await;
    assert_eq!(denied.status, 303);
    let params = query_of(&denied.location.unwrap());
    assert_eq!(
        (params["error"].as_str(), params["iss"].as_str()),
        ("access_denied", broker.url.as_str())
    );
    // The request is answered: a replayed decision finds nothing.
    let replay = get(
        &broker,
        &format!("/as/consent?request={request}"),
        Some(&cookie),
    )
    .await;
    assert_eq!((replay.status, replay.location.is_none()), (400, true));
}
