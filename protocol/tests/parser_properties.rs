//! Bounded fuzzing (proptest) of the parsers that read what a caller or an operator sends:
//! strategy configurations and the nesting pre-scan of providers documents. Runs in CI with
//! proptest's default case count; a failing case is kept by proptest under
//! `proptest-regressions/` and belongs in the repository, so it is replayed on every run.

use nexus_protocol::nesting::exceeds_depth;
use nexus_protocol::strategy::{Strategy as AuthStrategy, StrategySpec};
use proptest::prelude::*;
use serde_json::{Map, Value};

const KINDS: &[&str] = &[
    "oauth2",
    "bearer",
    "header",
    "api_key",
    "query_param",
    "basic_auth",
    "hmac_payload",
    "aws_sigv4",
    "",
    "unknown",
];
const KEYS: &[&str] = &[
    "header_name",
    "value_prefix",
    "credential_field",
    "param_name",
    "username_field",
    "password_field",
    "secret_field",
    "algo",
    "encoding",
    "region",
    "service",
    "extra",
];

/// Values a configuration field may hold: words the parser knows, header-ish text, text with
/// control characters and non-ASCII, numbers, booleans, null and nested values.
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        prop::sample::select(vec![
            "sha256",
            "sha1",
            "hex",
            "base64",
            "Bearer ",
            "X-API-Key",
            "api_key",
            "us-east-1",
            "",
        ])
        .prop_map(|s| Value::String(s.to_owned())),
        "[ -~]{0,12}".prop_map(Value::String),
        "\\PC{0,6}[\\x00-\\x1f\\x7f]?".prop_map(Value::String),
        any::<i64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop::collection::vec(inner, 0..3).prop_map(Value::Array)
    })
}

fn spec() -> impl Strategy<Value = StrategySpec> {
    (
        prop::sample::select(KINDS.to_vec()),
        prop::collection::vec((prop::sample::select(KEYS.to_vec()), value()), 0..6),
    )
        .prop_map(|(kind, fields)| StrategySpec {
            kind: kind.to_owned(),
            config: fields
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect::<Map<_, _>>(),
        })
}

proptest! {
    /// Any configuration is either refused with a typed error or accepted; what is accepted
    /// reads back identically from its explicit wire form (the effective strategy the gateway
    /// sends is exactly the one the broker validated).
    #[test]
    fn strategy_configs_are_refused_or_round_trip(spec in spec()) {
        if let Ok(strategy) = AuthStrategy::from_spec(&spec) {
            let again = AuthStrategy::from_spec(&strategy.to_spec());
            prop_assert_eq!(again, Ok(strategy));
        }
    }

    /// The pre-scan counts levels exactly: the document's top line is one block level, so `n`
    /// nested arrays on it are `n + 1` levels and exceed `max` iff `n + 1 > max`.
    #[test]
    fn nesting_prescan_counts_flow_levels(n in 0usize..200, max in 0usize..200) {
        let text = format!("{}1{}", "[".repeat(n), "]".repeat(n));
        prop_assert_eq!(exceeds_depth(&text, max), n + 1 > max);
    }

    /// Any text is scanned without a panic (quotes, comments, indentation, stray closers).
    #[test]
    fn nesting_prescan_takes_any_text(text in "[\\[\\]{}\"'#:\\- \n\ta-z0-9]{0,300}") {
        let _ = exceeds_depth(&text, 64);
        let _ = exceeds_depth(&text, 0);
    }
}
