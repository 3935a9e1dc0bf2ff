//! What the gateway documents and reports: the OpenAPI document, request ids, and metrics.

use super::common::{Stack, status_and_json};
use super::{WS, resolve_query};
use nexus_gateway::routes::paths;
use nexus_protocol::{ConnectionId, ProviderName, WorkspaceId};
use serde_json::Value;

/// `GET {base}/openapi.json` as JSON (200 required).
async fn openapi_document(stack: &Stack, base: &str) -> Value {
    let url = format!("{base}{}", paths::OPENAPI);
    let (status, doc) = status_and_json(stack.http.get(url).send().await.unwrap()).await;
    assert_eq!(status, 200, "{base}{}", paths::OPENAPI);
    doc
}

#[tokio::test]
async fn openapi_document_is_3_1_and_lists_exactly_the_routes_served() {
    let stack = Stack::start().await;
    let doc = openapi_document(&stack, &stack.gateway_url).await;
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );
    let documented = doc["paths"].as_object().expect("paths");
    // Every route is documented, and nothing else is (the broker's admin API is the broker's).
    let mut listed: Vec<&str> = documented.keys().map(String::as_str).collect();
    let mut routed: Vec<&str> = paths::ALL.to_vec();
    listed.sort_unstable();
    routed.sort_unstable();
    assert_eq!(listed, routed, "documented paths vs routed paths");

    // Every documented operation reaches a handler: not the router's fallback (404 "no such
    // route") and not a wrong method (405).
    for (path, operations) in documented {
        let concrete = path.replace("{id}", "x1");
        for method in operations.as_object().expect("operations").keys() {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = stack
                .http
                .request(method.clone(), stack.url(&concrete))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            assert_ne!(status, 405, "{method} {path} is documented but not routed");
            assert!(
                !(status == 404 && text.contains("no such route")),
                "{method} {path} is documented but not routed: {text}"
            );
        }
    }

    // The documented parameter rules are the protocol's.
    let params = doc["paths"][paths::RESOLVE]["get"]["parameters"]
        .as_array()
        .expect("resolve parameters");
    let pattern_of = |name: &str| {
        params
            .iter()
            .find(|p| p["name"] == name)
            .and_then(|p| p["schema"]["pattern"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(pattern_of("workspace_id"), WorkspaceId::PATTERN);
    assert_eq!(pattern_of("provider_name"), ProviderName::PATTERN);
    let id_pattern = &doc["paths"][paths::TOKEN]["get"]["parameters"][0]["schema"]["pattern"];
    assert_eq!(id_pattern, ConnectionId::PATTERN);

    for scheme in ["bearer", "api_key"] {
        assert!(
            doc["components"]["securitySchemes"][scheme].is_object(),
            "{scheme} scheme"
        );
    }
}

#[tokio::test]
async fn the_admin_api_is_documented_by_the_broker_not_the_gateway() {
    let stack = Stack::start().await;
    let gateway_doc = openapi_document(&stack, &stack.gateway_url).await;
    let gateway_paths = gateway_doc["paths"].as_object().expect("paths");
    assert!(
        !gateway_paths.keys().any(|p| p.starts_with("/admin/")),
        "the gateway answers 404 on /admin: it must not advertise it"
    );
    let broker_doc = openapi_document(&stack, &stack.broker.url).await;
    for admin_path in [
        "/admin/v1/providers",
        "/admin/v1/workspaces/{ws}/api-keys",
        "/admin/v1/keys/rotate",
        "/admin/v1/workspaces/{ws}/agents",
    ] {
        assert!(
            broker_doc["paths"][admin_path].is_object(),
            "broker admin {admin_path} missing from the broker's /openapi.json"
        );
    }
    assert!(broker_doc["components"]["securitySchemes"]["admin_token"].is_object());
}

#[tokio::test]
async fn request_ids_are_propagated_or_generated() {
    let stack = Stack::start().await;
    let response = stack
        .http
        .get(stack.url("/healthz"))
        .header("x-request-id", "trace-123.abc")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-123.abc");

    let response = stack
        .http
        .get(stack.url("/nowhere"))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    let generated = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(generated, "bad id with spaces");
    assert!(!generated.is_empty());
    let (_, body) = status_and_json(response).await;
    assert_eq!(
        body["request_id"],
        generated.as_str(),
        "the envelope carries the header's id"
    );
}

#[tokio::test]
async fn metrics_count_requests_and_cache_hits() {
    let stack = Stack::start().await;
    stack.broker.add_connection(WS, "github").await;
    let (key, _) = stack.broker.new_key(WS).await;
    for _ in 0..3 {
        stack.resolve(&key, &resolve_query(WS, "github")).await;
    }
    stack
        .resolve("nxk_wrong", &resolve_query(WS, "github"))
        .await;
    let response = stack.http.get(stack.url("/metrics")).send().await.unwrap();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    assert!(
        text.contains("nexus_gateway_requests_total{route=\"/v1/resolve\",status=\"200\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("nexus_gateway_requests_total{route=\"/v1/resolve\",status=\"401\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("nexus_gateway_token_cache_hits_total 2"),
        "{text}"
    );
    assert!(
        text.contains("nexus_gateway_token_cache_misses_total 1"),
        "{text}"
    );
    assert!(
        text.contains("nexus_gateway_request_duration_seconds_count{route=\"/v1/resolve\"} 4"),
        "{text}"
    );
    assert!(!text.contains(&key));
}
