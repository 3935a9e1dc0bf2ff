//! Bounded fuzzing (proptest) of the `/v1/resolve` query parser: any query string gets an
//! answer (never a panic), a 4xx error never carries control characters from the input, and a
//! valid query decodes to exactly what was sent however its bytes were percent-encoded.

use nexus_gateway::query::parse_resolve_query;
use proptest::prelude::*;

/// Percent-encode each byte of `text` when the matching flag says so (a client may encode any
/// byte, including unreserved ones).
fn encode(text: &str, flags: &[bool]) -> String {
    text.bytes()
        .enumerate()
        .map(|(i, b)| {
            if flags.get(i).copied().unwrap_or(false) {
                format!("%{b:02X}")
            } else {
                (b as char).to_string()
            }
        })
        .collect()
}

proptest! {
    #[test]
    fn any_query_gets_an_answer_without_control_characters_in_errors(
        raw in "[a-z_=&%0-9A-F\\x00-\\x1f\\x7f\\u{80}-\\u{10ffff}]{0,80}"
    ) {
        if let Err(e) = parse_resolve_query(Some(&raw)) {
            prop_assert!(e.status.is_client_error(), "{}", e.status);
            prop_assert!(!e.body.message.chars().any(char::is_control), "{:?}", e.body.message);
        }
    }

    #[test]
    fn valid_queries_decode_to_what_was_sent(
        workspace in "[a-z0-9][a-z0-9_-]{0,20}",
        provider in "[a-z0-9][a-z0-9_-]{0,20}",
        min_ttl in proptest::option::of(0u64..100_000),
        flags in prop::collection::vec(any::<bool>(), 64),
    ) {
        let mut raw = format!(
            "workspace_id={}&provider_name={}",
            encode(&workspace, &flags),
            encode(&provider, &flags[20..]),
        );
        if let Some(ttl) = min_ttl {
            raw.push_str(&format!("&min_ttl={ttl}"));
        }
        let params = parse_resolve_query(Some(&raw)).expect("a valid query");
        prop_assert_eq!(params.workspace_id.as_str(), workspace.as_str());
        prop_assert_eq!(params.provider_name.as_str(), provider.as_str());
        prop_assert_eq!(params.min_ttl, min_ttl);
        prop_assert!(!params.force_refresh);
    }
}
