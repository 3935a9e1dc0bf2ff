//! Runs every conformance vector in `tests/vectors/*.json` (format: `tests/vectors/README.md`).
//!
//! All cases run; the failures are listed together so one run shows every divergence.

use base64::Engine;
use chrono::{DateTime, Utc};
use nexus_sdk::client::{error_from_response, parse_resolve_response};
use nexus_sdk::{CachedToken, NexusError, RequestParts, apply, expiry};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::time::Instant;

const DEFAULT_NOW: &str = "2026-11-24T12:00:00Z";
const DEFAULT_URL: &str = "https://api.example.com/v1/resource";

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors")
}

fn load_cases() -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(vectors_dir())
        .expect("tests/vectors exists")
        .map(|e| e.expect("readable dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable vector file");
        let doc: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", file.display()));
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for case in doc["cases"].as_array().expect("a `cases` array") {
            cases.push((name.clone(), case.clone()));
        }
    }
    cases
}

fn parse_now(case: &Value) -> DateTime<Utc> {
    let text = case["now"].as_str().unwrap_or(DEFAULT_NOW);
    DateTime::parse_from_rfc3339(text)
        .expect("`now` is RFC 3339")
        .to_utc()
}

struct OwnedRequest {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn request_of(case: &Value) -> OwnedRequest {
    let r = &case["request"];
    let headers = r["headers"]
        .as_object()
        .map(|h| {
            h.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let body = match (r["body"].as_str(), r["body_base64"].as_str()) {
        (Some(text), _) => text.as_bytes().to_vec(),
        (None, Some(b64)) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("body_base64 is base64"),
        (None, None) => Vec::new(),
    };
    OwnedRequest {
        method: r["method"].as_str().unwrap_or("GET").to_owned(),
        url: r["url"].as_str().unwrap_or(DEFAULT_URL).to_owned(),
        headers,
        body,
    }
}

/// Run one case; `Err` describes the divergence.
fn run_case(case: &Value) -> Result<(), String> {
    let now = parse_now(case);
    if let Some(error) = case.get("resolve_error") {
        return check_resolve_error(case, error);
    }
    let body = serde_json::to_vec(&case["resolve"]).map_err(|e| e.to_string())?;
    let response = parse_resolve_response(&body).map_err(|e| format!("resolve body: {e}"))?;
    let ttl = expiry::lifetime(&response, now).ttl.as_secs();
    let token = CachedToken::from_response(response, now, Instant::now());
    let request = request_of(case);
    let parts = RequestParts {
        method: &request.method,
        url: &request.url,
        headers: &request.headers,
        body: &request.body,
    };
    let outcome = token
        .strategy()
        .and_then(|s| apply(s, token.credentials(), &parts, now));
    match (outcome, case.get("expect"), case["expect_error"].as_str()) {
        (Ok(injection), Some(expect), None) => {
            check_headers(&injection.headers, &expect["headers"])?;
            let want_url = expect["url"].as_str().unwrap_or(&request.url);
            if injection.url != want_url {
                return Err(format!("url: got {:?}, want {want_url:?}", injection.url));
            }
            if let Some(want) = expect["ttl_seconds"].as_u64()
                && ttl != want
            {
                return Err(format!("ttl_seconds: got {ttl}, want {want}"));
            }
            Ok(())
        }
        (Err(e), None, Some(want)) if e.code() == want => Ok(()),
        (Err(e), _, want) => Err(format!("error `{}` ({e}), want {want:?}", e.code())),
        (Ok(i), _, want) => Err(format!(
            "succeeded with {:?}, want error {want:?}",
            i.headers
        )),
    }
}

fn check_headers(got: &[(String, String)], want: &Value) -> Result<(), String> {
    let empty = Map::new();
    let want = want.as_object().unwrap_or(&empty);
    for (name, value) in want {
        let found = got.iter().find(|(n, _)| n.eq_ignore_ascii_case(name));
        match found {
            Some((_, v)) if Some(v.as_str()) == value.as_str() => {}
            Some((_, v)) => return Err(format!("header {name}: got {v:?}, want {value}")),
            None => return Err(format!("header {name} missing (got {got:?})")),
        }
    }
    if got.len() != want.len() {
        return Err(format!("added headers {got:?}, want exactly {want:?}"));
    }
    Ok(())
}

fn check_resolve_error(case: &Value, error: &Value) -> Result<(), String> {
    let status = error["status"].as_u64().ok_or("resolve_error.status")? as u16;
    let body = match &error["body"] {
        Value::String(raw) => raw.clone().into_bytes(),
        other => serde_json::to_vec(other).map_err(|e| e.to_string())?,
    };
    let mut headers = HeaderMap::new();
    if let Some(map) = error["headers"].as_object() {
        for (k, v) in map {
            headers.insert(
                HeaderName::from_bytes(k.as_bytes()).map_err(|e| e.to_string())?,
                HeaderValue::from_str(v.as_str().unwrap_or_default()).map_err(|e| e.to_string())?,
            );
        }
    }
    let err = error_from_response(status, &headers, &body);
    let want = case["expect_error"].as_str().ok_or("expect_error")?;
    if err.code() != want {
        return Err(format!("error `{}` ({err}), want `{want}`", err.code()));
    }
    check_error_fields(&err, &case["expect_error_fields"])
}

fn check_error_fields(err: &NexusError, fields: &Value) -> Result<(), String> {
    let Some(fields) = fields.as_object() else {
        return Ok(());
    };
    for (field, want) in fields {
        let got = match field.as_str() {
            "status" => err.status().map(Value::from),
            "request_id" => err.request_id().map(Value::from),
            "reauth_url" => err.reauth_url().map(Value::from),
            "retry_after" => err.retry_after().map(|d| Value::from(d.as_secs())),
            other => return Err(format!("unknown expect_error_fields key `{other}`")),
        };
        if got.as_ref() != Some(want) {
            return Err(format!("{field}: got {got:?}, want {want}"));
        }
    }
    Ok(())
}

#[test]
fn every_vector_passes() {
    let cases = load_cases();
    assert!(
        cases.len() >= 40,
        "expected at least 40 vectors, found {}",
        cases.len()
    );
    let mut names = std::collections::HashSet::new();
    let mut failures = Vec::new();
    for (file, case) in &cases {
        let name = case["name"].as_str().unwrap_or("<unnamed>");
        assert!(
            names.insert(name.to_owned()),
            "duplicate vector name {name}"
        );
        if let Err(why) = run_case(case) {
            failures.push(format!("{file} / {name}: {why}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} vectors failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
