//! Support for the MCP user-credential tests: a stack whose broker runs the authorization
//! server with the development login, MCP resources in two workspaces, real access tokens
//! minted through `/as/authorize` → login → consent → `/as/token`, and the browser walk of a
//! connect ticket, all over loopback HTTP without following redirects.
#![allow(dead_code)]

use crate::common::Stack;
use serde_json::{Value, json};

pub const DEV_PASSWORD: &str = "dev-login-password-for-gateway-tests";
pub const RESOURCE: &str = "http://127.0.0.1:9/mcp";
/// A resource of the other workspace (`globex`).
pub const OTHER_RESOURCE: &str = "http://127.0.0.1:9/globex-mcp";
const REDIRECT: &str = "http://127.0.0.1:33333/callback";

pub async fn mcp_stack(database_url: Option<String>) -> Stack {
    let stack = Stack::start_with_broker(
        database_url,
        |config| {
            config.authorization_server.dev_login_password = Some(DEV_PASSWORD.into());
        },
        |_| {},
    )
    .await;
    for (ws, uri) in [("acme", RESOURCE), ("globex", OTHER_RESOURCE)] {
        stack
            .broker
            .admin(
                reqwest::Method::POST,
                &format!("/admin/v1/workspaces/{ws}/mcp-resources"),
                Some(json!({"resource_uri": uri, "name": "Notes",
                            "scopes": ["notes:read"], "default_scopes": ["notes:read"]})),
                201,
            )
            .await;
    }
    stack
}

/// An answer as a browser sees it (redirects not followed).
pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub async fn get(url: &str, cookie: Option<&str>) -> Answer {
    let mut req = browser().get(url);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    answer(req).await
}

pub async fn post_form(
    url: &str,
    form: &[(&str, &str)],
    origin: &str,
    cookie: Option<&str>,
) -> Answer {
    let mut req = browser().post(url).header("origin", origin).form(form);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    answer(req).await
}

async fn answer(req: reqwest::RequestBuilder) -> Answer {
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let location = headers
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    Answer {
        status,
        location,
        headers,
        body: resp.text().await.unwrap(),
    }
}

/// The `value` of the hidden input `name` in a page.
pub fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {page}"))
        + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}

/// The login cookie (`name=value`) a response sets.
pub fn cookie_of(answer: &Answer) -> String {
    let set = answer.headers.get("set-cookie").expect("set-cookie");
    set.to_str().unwrap().split(';').next().unwrap().to_owned()
}

/// A public client registered over RFC 7591.
pub async fn register_client(stack: &Stack) -> String {
    let resp = browser()
        .post(format!("{}/as/register", stack.broker.url))
        .json(
            &json!({"client_name": "MCP test client", "redirect_uris": [REDIRECT],
                      "grant_types": ["authorization_code"], "token_endpoint_auth_method": "none"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let body: Value = resp.json().await.unwrap();
    body["client_id"].as_str().unwrap().to_owned()
}

/// An access token for `resource`, minted for `user` through the real authorization flow
/// (authorize → development login → consent → token with PKCE).
pub async fn access_token(stack: &Stack, client_id: &str, resource: &str, user: &str) -> String {
    let as_url = &stack.broker.url;
    let verifier = format!("verifier-{}-{}", uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let challenge = nexus_testkit::pkce_s256(&verifier);
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("resource", resource),
            ("scope", "notes:read"),
            ("state", "st"),
        ])
        .finish();
    let start = get(&format!("{as_url}/as/authorize?{query}"), None).await;
    assert_eq!(start.status, 303, "{}", start.body);
    let login = get(&start.location.unwrap(), None).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let request = hidden(&login.body, "request");
    let logged_in = post_form(
        &format!("{as_url}/as/login/dev"),
        &[
            ("request", &request),
            ("csrf", &hidden(&login.body, "csrf")),
            ("username", user),
            ("password", DEV_PASSWORD),
        ],
        as_url,
        None,
    )
    .await;
    assert_eq!(logged_in.status, 303, "{}", logged_in.body);
    let cookie = cookie_of(&logged_in);
    let consent = get(&logged_in.location.unwrap(), Some(&cookie)).await;
    let location = if consent.status == 303 {
        // Consented before to these scopes: straight back to the client.
        consent.location.unwrap()
    } else {
        assert_eq!(consent.status, 200, "{}", consent.body);
        let decided = post_form(
            &format!("{as_url}/as/consent"),
            &[
                ("request", &request),
                ("csrf", &hidden(&consent.body, "csrf")),
                ("decision", "allow"),
            ],
            as_url,
            Some(&cookie),
        )
        .await;
        assert_eq!(decided.status, 303, "{}", decided.body);
        decided.location.unwrap()
    };
    let code = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code");
    let resp = browser()
        .post(format!("{as_url}/as/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.as_str()),
            ("client_id", client_id),
            ("resource", resource),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let tokens: Value = resp.json().await.unwrap();
    tokens["access_token"].as_str().unwrap().to_owned()
}

/// A browser of `user`: opening the ticket leads to its login page; log in there as `user`.
/// Returns the login cookie.
pub async fn log_in_at_ticket(connect_url: &str, user: &str, origin: &str) -> String {
    let opened = get(connect_url, None).await;
    assert_eq!(opened.status, 303, "{}", opened.body);
    let login_url = opened.location.unwrap();
    assert_eq!(login_url, format!("{connect_url}/login"));
    let login = get(&login_url, None).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let csp = login.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let logged_in = post_form(
        &login_url,
        &[
            ("csrf", &hidden(&login.body, "csrf")),
            ("username", user),
            ("password", DEV_PASSWORD),
        ],
        origin,
        None,
    )
    .await;
    assert_eq!(logged_in.status, 303, "{}", logged_in.body);
    assert_eq!(logged_in.location.as_deref(), Some(connect_url));
    cookie_of(&logged_in)
}

/// With `cookie` (the ticket's user), walk the ticket: → provider → broker callback → done
/// page. Returns the done page.
pub async fn walk_ticket(connect_url: &str, cookie: &str) -> Answer {
    let opened = get(connect_url, Some(cookie)).await;
    assert_eq!(opened.status, 303, "{}", opened.body);
    let provider = opened.location.unwrap();
    let consented = get(&provider, None).await;
    assert!(
        matches!(consented.status, 302 | 303),
        "{}: {}",
        consented.status,
        consented.body
    );
    let callback = get(&consented.location.unwrap(), None).await;
    assert!(matches!(callback.status, 302 | 303), "{}", callback.body);
    let done_url = callback.location.unwrap();
    assert!(
        done_url.starts_with(&format!("{connect_url}/done?")),
        "{done_url}"
    );
    get(&done_url, None).await
}
