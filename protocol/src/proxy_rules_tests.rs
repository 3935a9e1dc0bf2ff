use super::*;
use proptest::prelude::*;

fn path(p: &str) -> Vec<String> {
    let p = p.strip_prefix('/').unwrap_or(p);
    if p.is_empty() {
        Vec::new()
    } else {
        p.split('/').map(str::to_owned).collect()
    }
}

fn pattern(text: &str) -> RoutePattern {
    RoutePattern::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn call(method: &str, p: &str) -> ProxyCall {
    ProxyCall {
        method: method.into(),
        host: None,
        path: path(p),
    }
}

fn rule(scope: &str, allow: &[&str]) -> Rule {
    Rule {
        scope: scope.into(),
        allow: allow.iter().map(|a| pattern(a)).collect(),
        hosts: Vec::new(),
    }
}

#[test]
fn patterns_match_as_the_grammar_says() {
    let cases: &[(&str, &str, &str, bool)] = &[
        ("GET /contacts/**", "GET", "/contacts", true),
        ("GET /contacts/**", "GET", "/contacts/42/notes", true),
        ("GET /contacts/**", "GET", "/contacts/", true),
        ("GET /contacts/**", "POST", "/contacts/42", false),
        ("GET /contacts/**", "GET", "/contactsX/42", false),
        ("GET /contacts/**", "get", "/contacts/42", false),
        ("PATCH,DELETE /contacts/*", "DELETE", "/contacts/42", true),
        ("PATCH,DELETE /contacts/*", "DELETE", "/contacts", false),
        (
            "PATCH,DELETE /contacts/*",
            "DELETE",
            "/contacts/42/x",
            false,
        ),
        ("* /", "PUT", "/", true),
        ("* /", "PUT", "/x", false),
        ("* /**", "PUT", "/any/thing", true),
        ("GET /a/**/z", "GET", "/a/z", true),
        ("GET /a/**/z", "GET", "/a/b/c/z", true),
        ("GET /a/**/z", "GET", "/a/b/c/y", false),
        ("GET /**/b/**", "GET", "/x/b", true),
        ("GET /**/b/**", "GET", "/x/y", false),
        ("GET /Contacts", "GET", "/contacts", false),
        ("GET /files/a b", "GET", "/files/a b", false),
        ("GET /files/café", "GET", "/files/café", true),
    ];
    for (text, method, p, expected) in cases {
        match RoutePattern::parse(text) {
            Ok(pat) => assert_eq!(
                pat.matches(method, &path(p)),
                *expected,
                "{text} ~ {method} {p}"
            ),
            Err(_) => assert!(!expected, "{text} should parse"),
        }
    }
}

/// Whether an error is the expected variant.
type IsExpected = fn(&PatternError) -> bool;

#[test]
fn bad_patterns_are_typed_errors() {
    use PatternError as E;
    let cases: &[(&str, IsExpected)] = &[
        ("GET", |e| matches!(e, E::Shape(_))),
        ("GET /a /b", |e| matches!(e, E::Shape(_))),
        ("get /a", |e| matches!(e, E::Method(_))),
        ("GET, /a", |e| matches!(e, E::Method(_))),
        ("GET a/b", |e| matches!(e, E::NotAbsolute(_))),
        ("GET /v*", |e| matches!(e, E::PartialGlob(_))),
        ("GET /***", |e| matches!(e, E::PartialGlob(_))),
        ("GET /**/a/**/b/**", |e| {
            matches!(e, E::TooManyDoubleGlobs(_))
        }),
        ("GET /a/../b", |e| matches!(e, E::Literal(_))),
        ("GET /a/%2e", |e| matches!(e, E::Literal(_))),
        ("GET /a//b", |e| matches!(e, E::Literal(_))),
        ("GET /a?x=1", |e| matches!(e, E::Literal(_))),
    ];
    for (text, is_expected) in cases {
        let err = RoutePattern::parse(text).expect_err(text);
        assert!(is_expected(&err), "{text}: {err:?}");
        assert!(err.to_string().contains(text.trim()), "names the pattern");
    }
    let long = format!("GET {}", "/a".repeat(MAX_SEGMENTS + 1));
    assert!(matches!(
        RoutePattern::parse(&long),
        Err(E::TooManySegments(_))
    ));
}

#[test]
fn rules_round_trip_as_written_and_compile_with_typed_errors() {
    let written: ProxyRule = serde_json::from_value(serde_json::json!({
        "scope": "crm:contacts:write",
        "allow": ["POST /contacts", "PATCH,DELETE /contacts/*"],
        "hosts": ["uploads.crm.example"]
    }))
    .unwrap();
    let back = serde_json::to_value(&written).unwrap();
    assert_eq!(back["allow"][1], "PATCH,DELETE /contacts/*");
    let compiled = written.compile().unwrap();
    assert_eq!(compiled.allow[1].as_str(), "PATCH,DELETE /contacts/*");
    let bad = ProxyRule {
        scope: "s".into(),
        allow: vec!["GET /ok".into(), "GET contacts".into()],
        hosts: Vec::new(),
    };
    assert!(matches!(
        compile(&[bad]),
        Err(PatternError::NotAbsolute(p)) if p == "GET contacts"
    ));
}

#[test]
fn authorize_allows_only_what_a_held_scope_declares() {
    let rules = vec![
        rule(
            "crm:contacts:read",
            &["GET /contacts/**", "HEAD /contacts/**"],
        ),
        rule("crm:contacts:write", &["POST /contacts"]),
    ];
    let held = vec!["crm:contacts:read".to_owned()];
    let (scope, pat) = authorize(&rules, &held, &call("GET", "/contacts/42")).unwrap();
    assert_eq!(
        (scope, pat.as_str()),
        ("crm:contacts:read", "GET /contacts/**")
    );
    let denied = authorize(&rules, &held, &call("POST", "/contacts")).unwrap_err();
    assert_eq!(denied.needed, vec!["crm:contacts:write"]);
    let nobody = authorize(&rules, &held, &call("GET", "/deals")).unwrap_err();
    assert!(nobody.needed.is_empty());
    // A rule without `hosts` covers the base URL only; with `hosts`, those hosts only.
    let mut upload = rule("crm:upload", &["PUT /**"]);
    upload.hosts = vec!["uploads.crm.example".into()];
    let rules = vec![upload];
    let held = vec!["crm:upload".to_owned()];
    let mut to_upload = call("PUT", "/f");
    assert!(authorize(&rules, &held, &to_upload).is_err());
    to_upload.host = Some("uploads.crm.example".into());
    assert!(authorize(&rules, &held, &to_upload).is_ok());
}

/// The obvious recursive matcher, as the specification the fast one is checked against.
fn reference(pattern: &[Segment], path: &[String]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((Segment::Any, rest)) => (0..=path.len()).any(|i| reference(rest, &path[i..])),
        Some((first, rest)) => path
            .split_first()
            .is_some_and(|(s, tail)| first.accepts(s) && reference(rest, tail)),
    }
}

fn pattern_text() -> impl Strategy<Value = String> {
    let seg = prop_oneof![
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just("*".to_owned()),
        Just("**".to_owned())
    ];
    (
        prop_oneof![Just("*"), Just("GET"), Just("GET,POST")],
        proptest::collection::vec(seg, 0..6),
    )
        .prop_map(|(m, segs)| format!("{m} /{}", segs.join("/")))
}

fn call_strategy() -> impl Strategy<Value = ProxyCall> {
    (
        prop_oneof![Just("GET"), Just("POST"), Just("PUT")],
        proptest::collection::vec(prop_oneof![Just("a"), Just("b"), Just("c")], 0..7),
    )
        .prop_map(|(m, segs)| ProxyCall {
            method: m.to_owned(),
            host: None,
            path: segs.into_iter().map(str::to_owned).collect(),
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn fast_matching_equals_the_reference(text in pattern_text(), c in call_strategy()) {
        if let Ok(pat) = RoutePattern::parse(&text) {
            let method_ok = pat.methods.as_ref().is_none_or(|l| l.contains(&c.method));
            prop_assert_eq!(pat.matches(&c.method, &c.path), method_ok && reference(&pat.segments, &c.path));
        }
    }

    #[test]
    fn more_scopes_never_remove_an_allowance_and_nothing_undeclared_passes(
        texts in proptest::collection::vec(pattern_text(), 1..5),
        c in call_strategy(),
        held_mask in 0u8..16,
        extra in 0usize..4,
    ) {
        let rules: Vec<Rule> = texts
            .iter()
            .enumerate()
            .filter_map(|(i, t)| Some(Rule {
                scope: format!("s{i}"),
                allow: vec![RoutePattern::parse(t).ok()?],
                hosts: Vec::new(),
            }))
            .collect();
        let held: Vec<String> = (0..4).filter(|i| held_mask & (1 << i) != 0).map(|i| format!("s{i}")).collect();
        let verdict = authorize(&rules, &held, &c);
        if let Ok((scope, pat)) = &verdict {
            prop_assert!(held.iter().any(|h| h == scope));
            prop_assert!(pat.matches(&c.method, &c.path));
        } else {
            let declared = rules.iter().any(|r| held.contains(&r.scope) && r.allowing(&c).is_some());
            prop_assert!(!declared);
        }
        let mut more = held.clone();
        more.push(format!("s{extra}"));
        if verdict.is_ok() {
            prop_assert!(authorize(&rules, &more, &c).is_ok());
        }
    }
}
