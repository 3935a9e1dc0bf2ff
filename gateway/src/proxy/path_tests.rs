use super::*;
use proptest::prelude::*;

const BASE: &str = "/v2/api";

fn target(raw: &str) -> Result<String, PathError> {
    normalise(raw, false).map(|p| p.under(BASE))
}

/// One case per refusal reason (the full list of escape encodings runs against the real
/// gateway in `tests/proxy_safety.rs`).
#[test]
fn each_refusal_has_its_reason() {
    for (raw, reason) in [
        ("/../x", PathError::DotSegment),
        ("/%2E%2e/x", PathError::DotSegment),
        ("/..;x/y", PathError::DotSegment),
        ("/. ./y", PathError::ForbiddenByte),
        ("/.%20./y", PathError::DotSegment),
        ("/%252e%252e/x", PathError::DoubleEncoding),
        ("/a%2f..%2fx", PathError::EncodedSlash),
        ("/%5c..", PathError::ForbiddenEncodedByte),
        ("/%0a", PathError::ForbiddenEncodedByte),
        ("/\\x", PathError::ForbiddenByte),
        ("/é", PathError::ForbiddenByte),
        ("/%2", PathError::BadPercentEncoding),
        ("/%u002e", PathError::BadPercentEncoding),
        ("/a//x", PathError::EmptySegment),
    ] {
        assert_eq!(normalise(raw, false), Err(reason), "{raw}");
    }
    assert_eq!(
        normalise(&"/a".repeat(MAX_PATH_LEN), false),
        Err(PathError::TooLong)
    );
}

#[test]
fn harmless_paths_reach_exactly_their_target() {
    for (raw, expected) in [
        ("", "/v2/api/"),
        ("/", "/v2/api/"),
        ("/contacts/42", "/v2/api/contacts/42"),
        ("/contacts/", "/v2/api/contacts/"),
        ("/%c0%ae%c0%ae/x", "/v2/api/%C0%AE%C0%AE/x"),
        ("/%7euser/%41b", "/v2/api/~user/Ab"),
        ("/100%25off", "/v2/api/100%25off"),
        ("/a..b/.hidden", "/v2/api/a..b/.hidden"),
        ("/a;b=c/x:y@z", "/v2/api/a;b=c/x:y@z"),
    ] {
        assert_eq!(target(raw).as_deref(), Ok(expected), "{raw}");
    }
}

#[test]
fn encoded_slash_only_when_the_provider_allows_it() {
    assert_eq!(normalise("/g%2Fp", false), Err(PathError::EncodedSlash));
    let kept = normalise("/projects/group%2fproject/x", true).unwrap();
    assert_eq!(kept.under(BASE), "/v2/api/projects/group%2Fproject/x");
    for raw in ["/a%2F..%2Fb", "/a%2F%2Fb", "/%2F..", "/a%2F.%2Fb"] {
        assert!(normalise(raw, true).is_err(), "{raw}");
    }
}

#[test]
fn queries_are_checked_not_rewritten() {
    assert!(check_query("a=1&b=%20x&c=../../y").is_ok());
    assert!(check_query("a=%zz").is_err());
    assert!(check_query("a=b c").is_err());
}

/// RFC 3986 §5.2.4 `remove_dot_segments` over a decoded path (what a lax upstream might do).
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    out.join("/")
}

fn decode_str(s: &str) -> String {
    String::from_utf8_lossy(&decode(s.as_bytes())).into_owned()
}

fn token() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "a", ".", "..", "%2e", "%2E", "%252e", "/", "%2f", "%2F", "%5c", "\\", ";", "%3b", "%00",
        "%20", "~", "%7e", "%u002e", "%c0%ae", "%25", "b", "%2e%2e",
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn no_accepted_path_escapes_the_base(tokens in prop::collection::vec(token(), 0..12), encoded_slash in any::<bool>()) {
        let raw = format!("/{}", tokens.concat());
        if let Ok(path) = normalise(&raw, encoded_slash) {
            let target = path.under(BASE);
            let prefix = format!("{BASE}/");
            // (a) the target stays under the base path.
            prop_assert!(target.starts_with(&prefix), "{raw} → {target}");
            // (b) a WHATWG URL parser changes nothing (no dot segment it understands survives).
            let url = url::Url::parse(&format!("https://u.example{target}")).unwrap();
            prop_assert_eq!(url.path(), target.as_str());
            // (c) decoding once or twice, then resolving dot segments, keeps the base prefix.
            let once = decode_str(&target);
            let twice = decode_str(&once);
            for decoded in [once, twice] {
                let resolved = remove_dot_segments(&decoded.replace('\\', "/"));
                prop_assert!(resolved.starts_with(&prefix), "{raw} → {resolved}");
            }
            // (d) normalising the output again is the identity.
            let again = normalise(&format!("/{}", path.joined()), encoded_slash).unwrap();
            prop_assert_eq!(again, path);
        }
    }
}
