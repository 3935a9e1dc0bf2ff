//! Every id rule: valid values, the edges, and the ways a value is refused (empty, too long,
//! control characters, non-ASCII, path tricks).

use super::*;

/// Values no id type accepts: they would change a URL path, a log line or a terminal.
const HOSTILE: &[&str] = &[
    "",
    "a/b",
    "../x",
    "a\\b",
    "a b",
    "a\nb",
    "a\rb",
    "a\0b",
    "a\tb",
    "a%2Fb",
    "a?b",
    "a#b",
    "é",
    "a\u{202e}b",
    "ａ",
];

#[test]
fn workspace_ids() {
    for ok in ["dev", "a", "0", "a_b-9", "9lives", &"a".repeat(63)] {
        assert_eq!(WorkspaceId::new(ok).unwrap().as_str(), ok);
    }
    for bad in ["Dev", "-x", "_x", "a.b", ".", "..", &"a".repeat(64)] {
        assert!(WorkspaceId::new(bad).is_err(), "{bad:?}");
    }
    for bad in HOSTILE {
        assert!(WorkspaceId::new(*bad).is_err(), "{bad:?}");
    }
}

#[test]
fn provider_names() {
    for ok in [
        "github",
        "google-drive",
        "acme.crm",
        "a_b",
        "0",
        &"p".repeat(63),
    ] {
        assert!(ProviderName::is_valid(ok), "{ok:?}");
    }
    for bad in ["GitHub", ".hidden", "-x", "..", &"p".repeat(64)] {
        assert!(ProviderName::new(bad).is_err(), "{bad:?}");
    }
    for bad in HOSTILE {
        assert!(ProviderName::new(*bad).is_err(), "{bad:?}");
    }
}

#[test]
fn connection_ids() {
    for ok in ["conn_1", "Ab-9.x", ".a", "a..b", &"c".repeat(128)] {
        assert!(ConnectionId::is_valid(ok), "{ok:?}");
    }
    for bad in [".", "..", "...", &"c".repeat(129)] {
        assert!(ConnectionId::new(bad).is_err(), "{bad:?}");
    }
    for bad in HOSTILE {
        assert!(ConnectionId::new(*bad).is_err(), "{bad:?}");
    }
}

#[test]
fn opaque_broker_ids() {
    for ok in ["agt_123", "A", "x_Y_9", &"a".repeat(64)] {
        assert!(AgentId::is_valid(ok), "{ok:?}");
        assert!(SessionId::is_valid(ok), "{ok:?}");
        assert!(IdentityProviderId::is_valid(ok), "{ok:?}");
    }
    for bad in ["a-b", "a.b", "..", &"a".repeat(65)] {
        assert!(AgentId::new(bad).is_err(), "{bad:?}");
        assert!(SessionId::new(bad).is_err(), "{bad:?}");
        assert!(IdentityProviderId::new(bad).is_err(), "{bad:?}");
    }
    for bad in HOSTILE {
        assert!(AgentId::new(*bad).is_err(), "{bad:?}");
        assert!(SessionId::new(*bad).is_err(), "{bad:?}");
        assert!(IdentityProviderId::new(*bad).is_err(), "{bad:?}");
    }
}

#[test]
fn scopes() {
    for ok in [
        "repo",
        "crm:contacts:read",
        "provider:github:repo",
        "https://www.googleapis.com/auth/drive.readonly",
        "a/../b",
        &"s".repeat(200),
    ] {
        assert!(Scope::is_valid(ok), "{ok:?}");
    }
    for bad in [
        "",
        "a b",
        " ",
        "a\nb",
        "a\0",
        "é",
        "a\u{202e}",
        &"s".repeat(201),
    ] {
        assert!(Scope::new(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn patterns_agree_with_the_rules_on_samples() {
    // The patterns are documentation; a cheap check that they were not copied from another type.
    assert_eq!(WorkspaceId::PATTERN, "^[a-z0-9][a-z0-9_-]{0,62}$");
    assert!(ProviderName::PATTERN.contains('.'));
    assert!(!WorkspaceId::PATTERN.contains('.'));
    assert!(AgentId::PATTERN.ends_with("{1,64}$"));
}

#[test]
fn serde_applies_the_rule_and_writes_a_plain_string() {
    let id: WorkspaceId = serde_json::from_str("\"acme\"").unwrap();
    assert_eq!(id, "acme");
    assert_eq!(serde_json::to_string(&id).unwrap(), "\"acme\"");
    let err = serde_json::from_str::<WorkspaceId>("\"../etc\"").unwrap_err();
    assert!(err.to_string().contains("workspace id"), "{err}");
    assert!(serde_json::from_str::<WorkspaceId>("42").is_err());
    let scopes: Vec<Scope> = serde_json::from_str(r#"["a:b","c"]"#).unwrap();
    assert_eq!(scopes[1].as_str(), "c");
    assert!(serde_json::from_str::<Vec<Scope>>(r#"["a b"]"#).is_err());
}

#[test]
fn conversions_and_display() {
    let name: ProviderName = "github".parse().unwrap();
    assert_eq!(name.to_string(), "github");
    assert_eq!(AsRef::<str>::as_ref(&name), "github");
    assert_eq!(String::from(name.clone()), "github");
    assert_eq!(ProviderName::try_from("github".to_owned()).unwrap(), name);
    assert_eq!(name.into_string(), "github");
}

#[test]
fn errors_escape_and_cap_the_value() {
    let err = WorkspaceId::new("evil\n[INFO] forged \u{1b}[2J\u{202e}").unwrap_err();
    let text = err.to_string();
    assert!(!text.chars().any(char::is_control), "{text:?}");
    assert!(!text.contains('\u{202e}'), "{text:?}");
    assert!(text.contains("\\n"), "{text:?}");
    assert!(text.contains("workspace id"), "{text:?}");
    assert_eq!(err.what(), "workspace id");
    assert!(err.expected().starts_with("must match"));

    let long = "x".repeat(10_000);
    let err = ProviderName::new(long.as_str()).unwrap_err();
    assert!(err.to_string().len() < 200, "{}", err.to_string().len());
    assert!(err.shown().ends_with('…'));
    assert_eq!(err.shown().chars().count(), SHOWN_CHARS + 1);

    let err = AgentId::new("a`b\\c").unwrap_err();
    assert_eq!(err.shown(), "a\\u{60}b\\\\c");
}

#[test]
fn the_rule_of_a_refusal_is_found_without_the_value() {
    let err = WorkspaceId::new("Secret Value").unwrap_err();
    let wrapped = format!("{err} at line 1 column 22");
    assert_eq!(
        rule_of_refusal(&wrapped).as_deref(),
        Some("workspace id must match [a-z0-9][a-z0-9_-]{0,62}")
    );
    let err = serde_json::from_str::<Vec<Scope>>(r#"["two words"]"#).unwrap_err();
    let rule = rule_of_refusal(&err.to_string()).unwrap();
    assert!(
        rule.starts_with("scope must be") && !rule.contains("two"),
        "{rule}"
    );
    assert_eq!(rule_of_refusal("missing field `id`"), None);
}
