use super::*;
use serde_json::json;
use std::collections::HashMap;

fn user(sub: &str, email: Option<&str>, verified: bool, other: serde_json::Value) -> IdTokenClaims {
    let other: HashMap<String, serde_json::Value> = serde_json::from_value(other).unwrap();
    IdTokenClaims {
        subject: sub.to_owned(),
        email: email.map(str::to_owned),
        email_verified: verified,
        name: None,
        other,
    }
}

fn rule(subjects: &[&str], emails: &[&str], groups: &[&str], claim: &str) -> ConsoleAccess {
    let v = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect();
    ConsoleAccess {
        subjects: v(subjects),
        emails: v(emails),
        groups: v(groups),
        groups_claim: claim.to_owned(),
    }
}

#[test]
fn console_rule_matches_subject_verified_email_or_group() {
    let r = rule(&["root"], &["Ops@Example.com"], &["nexus-ops"], "groups");
    assert!(console_allows(&r, &user("root", None, false, json!({}))));
    assert!(console_allows(
        &r,
        &user("x", Some("ops@example.com"), true, json!({}))
    ));
    // An unverified email proves nothing.
    assert!(!console_allows(
        &r,
        &user("x", Some("ops@example.com"), false, json!({}))
    ));
    assert!(console_allows(
        &r,
        &user(
            "ops",
            None,
            false,
            json!({"groups": ["staff", "nexus-ops"]})
        )
    ));
    assert!(!console_allows(
        &r,
        &user("bob", None, false, json!({"groups": ["staff"]}))
    ));
    // The configured claim only: a `groups` claim does not count when `roles` is configured.
    let roles = rule(&[], &[], &["nexus-ops"], "roles");
    assert!(!console_allows(
        &roles,
        &user("ops", None, false, json!({"groups": ["nexus-ops"]}))
    ));
    assert!(console_allows(
        &roles,
        &user("ops", None, false, json!({"roles": "nexus-ops"}))
    ));
    // Non-string group entries are ignored, not matched.
    assert!(!console_allows(
        &r,
        &user(
            "bob",
            None,
            false,
            json!({"groups": [1, {"nexus-ops": true}]})
        )
    ));
}

fn request(v: serde_json::Value) -> AddIdentityProviderRequest {
    serde_json::from_value(v).unwrap()
}

#[test]
fn login_settings_need_a_client_and_an_explicit_rule() {
    let ok = request(
        json!({"issuer": "https://id.example", "login_client_id": "c",
        "login_client_secret": "s", "console": {"groups": ["ops"]}}),
    );
    assert!(check_login_settings(&ok).is_ok());
    for (body, says) in [
        (
            json!({"issuer": "https://i", "login_client_secret": "s3cr3t"}),
            "needs `login_client_id`",
        ),
        (
            json!({"issuer": "https://i", "console": {"groups": ["ops"]}}),
            "needs `login_client_id`",
        ),
        (
            json!({"issuer": "https://i", "login_client_id": "c", "console": {}}),
            "explicit allow rule",
        ),
        (
            json!({"issuer": "https://i", "login_client_id": "c", "login_client_secret": "a\nb"}),
            "control",
        ),
        (
            json!({"issuer": "https://i", "login_client_id": "c",
            "console": {"groups": ["ops"], "groups_claim": "a b"}}),
            "claim name",
        ),
        (
            json!({"issuer": "https://i", "login_client_id": ""}),
            "1..256",
        ),
    ] {
        let e = check_login_settings(&request(body))
            .unwrap_err()
            .to_string();
        assert!(e.contains(says), "{e}");
        assert!(!e.contains("s3cr3t"));
    }
}

#[test]
fn provider_error_codes_are_shown_only_when_plain() {
    assert_eq!(safe_error_code("access_denied"), "access_denied");
    assert_eq!(safe_error_code("<script>"), "unrecognised error");
    assert_eq!(safe_error_code(&"a".repeat(65)), "unrecognised error");
}
