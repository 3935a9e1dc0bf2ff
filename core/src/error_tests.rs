//! Unit tests of `error.rs` (the table, the codes, the envelope mapping).

use super::*;

/// One error of every variant (and every protocol code the SDK knows).
fn one_of_each() -> Vec<NexusError> {
    let mut errors = vec![
        NexusError::UnknownStrategy("x".into()),
        NexusError::InvalidStrategyConfig("x".into()),
        NexusError::MissingCredentialField {
            strategy: "s".into(),
            field: "f".into(),
        },
        NexusError::InvalidCredentialValue {
            strategy: "s".into(),
            field: "f".into(),
        },
        NexusError::InvalidRequest("x".into()),
        NexusError::Connect("x".into()),
        NexusError::Timeout("x".into()),
        NexusError::InvalidResponse {
            status: 200,
            detail: "x".into(),
            request_id: None,
        },
        NexusError::ConnectionFailed {
            status: "revoked".into(),
            reauth_url: None,
        },
        NexusError::WaitAborted("x".into()),
        NexusError::ConnectionRequired(Box::new(ConnectionRequired {
            status: 409,
            message: "m".into(),
            request_id: None,
            provider: "github".into(),
            reason: "missing".into(),
            connect_url: "https://nexus/as/connect/t".into(),
            elicitation_id: "e".into(),
        })),
    ];
    for code in ERROR_TABLE.iter().filter(|r| r.kind == ErrorKind::Api) {
        let body = ErrorBody::new(ErrorCode::parse(code.code), "m");
        errors.push(NexusError::from_envelope(400, body, None));
    }
    errors
}

#[test]
fn every_error_the_sdk_can_raise_has_a_row_of_its_code_and_kind() {
    for error in one_of_each() {
        assert!(
            ERROR_TABLE
                .iter()
                .any(|r| r.code == error.code() && r.kind == error.kind()),
            "no row for ({}, {})",
            error.code(),
            error.kind().as_str()
        );
    }
}

#[test]
fn every_known_protocol_code_is_in_the_table() {
    // Both directions: a protocol code without a row (request_timeout once) would reach
    // every SDK as an unknown code; a row that is not a protocol code is dead.
    for row in ERROR_TABLE.iter().filter(|r| r.kind == ErrorKind::Api) {
        assert!(
            ErrorCode::KNOWN.contains(&row.code)
                && !matches!(ErrorCode::parse(row.code), ErrorCode::Other(_)),
            "{} is not a protocol code",
            row.code
        );
    }
    for &code in ErrorCode::KNOWN {
        assert!(
            ERROR_TABLE
                .iter()
                .any(|r| r.code == code && r.kind == ErrorKind::Api),
            "protocol code {code} has no row in ERROR_TABLE"
        );
    }
}

#[test]
fn one_class_per_code_and_every_parent_is_a_class() {
    for row in ERROR_TABLE {
        for other in ERROR_TABLE.iter().filter(|o| o.code == row.code) {
            assert_eq!(row.class, other.class, "{} has two classes", row.code);
        }
        assert!(
            row.parent == ROOT_CLASS || ERROR_TABLE.iter().any(|r| r.class == row.parent),
            "{}: parent {} is not a class of the table",
            row.code,
            row.parent
        );
    }
    let unknown = NexusError::from_envelope(
        418,
        ErrorBody::new(ErrorCode::Other("brand_new".into()), "m"),
        None,
    );
    assert_eq!(unknown.class_name(), UNKNOWN_API_CODE_CLASS);
    assert_eq!(
        NexusError::WaitAborted("x".into()).class_name(),
        "WaitAbortedError"
    );
}

#[test]
fn connection_required_keeps_its_link_or_stays_a_plain_api_error_without_one() {
    let with_link = ErrorBody {
        connect_url: Some("https://nexus/as/connect/t1".into()),
        elicitation_id: Some("e1".into()),
        provider: Some("github".into()),
        reason: Some(nexus_protocol::ConnectionRequiredReason::ReauthRequired),
        request_id: Some("req-1".into()),
        ..ErrorBody::new(ErrorCode::ConnectionRequired, "connect github")
    };
    let error = NexusError::from_envelope(409, with_link, None);
    let required = error
        .connection_required()
        .expect("the variant with its link");
    assert_eq!(required.connect_url, "https://nexus/as/connect/t1");
    assert_eq!(required.elicitation_id, "e1");
    assert_eq!(required.provider, "github");
    assert_eq!(required.reason, "reauth_required");
    assert_eq!(
        (error.code(), error.status(), error.request_id()),
        ("connection_required", Some(409), Some("req-1"))
    );
    assert_eq!(error.message(), "connect github");
    assert_eq!(error.class_name(), "ConnectionRequiredError");
    // Without the link there is nothing to elicit: the same code and class, no variant.
    let bare = NexusError::from_envelope(
        409,
        ErrorBody::new(ErrorCode::ConnectionRequired, "m"),
        None,
    );
    assert!(bare.connection_required().is_none());
    assert_eq!(bare.class_name(), "ConnectionRequiredError");
}

#[test]
fn codes_are_the_documented_strings() {
    let e: NexusError = StrategyError::UnknownType("magic".into()).into();
    assert_eq!(e.code(), "unknown_strategy");
    assert_eq!(e.kind(), ErrorKind::Strategy);
    let api = NexusError::from_envelope(
        409,
        ErrorBody {
            reauth_url: Some("https://r".into()),
            ..ErrorBody::new(ErrorCode::ReauthRequired, "authorize again")
        },
        None,
    );
    assert_eq!(api.code(), "reauth_required");
    assert_eq!(api.status(), Some(409));
    assert_eq!(api.reauth_url(), Some("https://r"));
    assert_eq!(api.message(), "authorize again");
}
