//! `session_cases` of the shared vectors, held against the core's session parser.

use super::*;

/// `tests/vectors/sessions.json` → `session_cases` (format: `tests/vectors/README.md`); its
/// ordinary `cases` run in `tests/vectors.rs` with every other file.
#[test]
fn session_vectors() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/sessions.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("sessions.json"))
        .expect("valid JSON");
    let cases = doc["session_cases"]
        .as_array()
        .expect("a `session_cases` array");
    assert!(cases.len() >= 5);
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap_or("?");
        let body = match &case["session"] {
            Value::String(text) => text.clone().into_bytes(),
            other => serde_json::to_vec(other).expect("serializable"),
        };
        let outcome = nexus_sdk::session::parse_session_response(&body).map(|s| {
            json!({
                "session_id": s.session_id, "expires_in": s.expires_in, "scopes": s.scopes,
                "agent_id": s.agent_id, "sub": s.sub, "act": s.act,
                "renew_after_ms":
                    nexus_sdk::session::renewal_delay(s.expires_in).as_millis() as u64,
            })
        });
        let ok = match (
            &outcome,
            case.get("expect_session"),
            case["expect_error"].as_str(),
        ) {
            (Ok(got), Some(want), None) => got == want,
            (Err(e), None, Some(code)) => e.code() == code,
            _ => false,
        };
        if !ok {
            failures.push(format!("{name}: got {outcome:?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
