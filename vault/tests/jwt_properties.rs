//! Bounded fuzzing (proptest) of the two JWT readers (issue 14 "Also"): session tokens
//! ([`Signer::verify`]) and On-Behalf-Of subject tokens ([`TrustedIssuers::verify`], keys from
//! a real loopback identity provider). Any text is refused without a panic; no modification of
//! a valid token (a character replaced, inserted or removed, the token cut or extended) is ever
//! accepted; the high-S twin of a session signature is refused; and a subject token is
//! accepted exactly when its claims follow the documented rules (issuer trusted, `aud`
//! present and equal, `exp` in the future, `nbf`/`iat` at most the clock skew ahead, no
//! `act`, a usable `sub` that names no agent). Case counts are fixed so CI stays fast; a
//! failing case is kept by proptest in `jwt_properties.proptest-regressions` next to this
//! file, which belongs in the repository (it is replayed first on every run).

use nexus_testkit::{OAuthServer, OAuthServerOptions};
use nexus_vault::identity::obo::{CLOCK_SKEW_SECONDS, TrustedIssuers};
use nexus_vault::identity::signing::{SessionClaims, Signer};
use nexus_vault::store::Store;
use nexus_vault::testing::{sqlite_db, store_for};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::sync::OnceLock;
use std::time::Duration;

const WORKSPACE: &str = "acme";
const AUDIENCE: &str = "nexus-app";

/// One store, signer, identity provider and a valid token of each kind, shared by every case.
struct Fixture {
    rt: tokio::runtime::Runtime,
    store: Store,
    signer: Signer,
    session_token: String,
    trusted: TrustedIssuers,
    idp: OAuthServer,
    agent_id: String,
    _db: nexus_vault::testing::TestDb,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let db = sqlite_db();
        let (store, idp, agent_id) = rt.block_on(async {
            let store = store_for(&db).await;
            store.create_workspace(WORKSPACE, None).await.unwrap();
            let (agent, _) = store
                .create_agent(WORKSPACE, "bot", &["crm:read".to_owned()], 900)
                .await
                .unwrap();
            let idp = OAuthServer::start(OAuthServerOptions::default()).await;
            store
                .add_identity_provider(
                    WORKSPACE,
                    &idp.issuer(),
                    Some(&idp.jwks_url()),
                    Some(AUDIENCE),
                    false,
                )
                .await
                .unwrap();
            (store, idp, agent.agent_id)
        });
        let signer = Signer::default();
        let session_token = rt.block_on(sign_session(&signer, &store));
        Fixture {
            trusted: TrustedIssuers::new(Duration::from_secs(10)),
            rt,
            store,
            signer,
            session_token,
            idp,
            agent_id,
            _db: db,
        }
    })
}

async fn sign_session(signer: &Signer, store: &Store) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = SessionClaims {
        iss: "http://127.0.0.1:9".into(),
        sub: "agt_0123456789abcdef".into(),
        aud: "nexus".into(),
        exp: now + 900,
        iat: now,
        jti: format!("ses_{}", hex::encode(rand::random::<[u8; 16]>())),
        client_id: "agt_0123456789abcdef".into(),
        scope: "crm:read".into(),
        workspace_id: WORKSPACE.into(),
        act: None,
    };
    signer.sign(store, &claims).await.expect("sign")
}

impl Fixture {
    fn session_accepts(&self, token: &str) -> bool {
        self.rt
            .block_on(self.signer.verify(&self.store, token))
            .is_ok()
    }

    fn subject_accepts(&self, token: &str) -> bool {
        self.rt
            .block_on(self.trusted.verify(&self.store, WORKSPACE, token))
            .is_ok()
    }

    /// A user token the rules accept.
    fn valid_user_token(&self) -> String {
        let now = chrono::Utc::now().timestamp();
        self.idp.mint_jwt(&json!({
            "iss": self.idp.issuer(), "sub": "alice", "aud": AUDIENCE,
            "iat": now, "exp": now + 300, "scope": "crm:read",
        }))
    }
}

/// One change to a token's text.
#[derive(Debug, Clone)]
enum Edit {
    Replace(usize, char),
    Insert(usize, char),
    Remove(usize),
    Truncate(usize),
    Append(String),
}

fn edit() -> impl Strategy<Value = Edit> {
    // The base64url alphabet, the separator, padding and a few characters a parser might trip on.
    let ch = prop_oneof![
        prop::sample::select(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \u{0}é"
                .chars()
                .collect::<Vec<_>>()
        ),
        any::<char>(),
    ];
    prop_oneof![
        (any::<usize>(), ch.clone()).prop_map(|(i, c)| Edit::Replace(i, c)),
        (any::<usize>(), ch).prop_map(|(i, c)| Edit::Insert(i, c)),
        any::<usize>().prop_map(Edit::Remove),
        any::<usize>().prop_map(Edit::Truncate),
        "[A-Za-z0-9_.=-]{1,8}".prop_map(Edit::Append),
    ]
}

/// `token` with `edit` applied (positions taken modulo the length, in characters).
fn apply(token: &str, edit: &Edit) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    let at = |i: usize, len: usize| if len == 0 { 0 } else { i % len };
    match edit {
        Edit::Replace(i, c) => {
            let i = at(*i, chars.len());
            chars[i] = *c;
        }
        Edit::Insert(i, c) => {
            let i = at(*i, chars.len() + 1);
            chars.insert(i, *c);
        }
        Edit::Remove(i) => {
            let i = at(*i, chars.len());
            chars.remove(i);
        }
        Edit::Truncate(i) => chars.truncate(at(*i, chars.len())),
        Edit::Append(s) => chars.extend(s.chars()),
    }
    chars.into_iter().collect()
}

/// Text shaped like a JWT: three dot-separated base64url parts of any JSON or bytes.
fn jwt_shaped() -> impl Strategy<Value = String> {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let json_part = prop_oneof![
        Just(json!({"alg": "ES256", "kid": "nxs_0000000000000000", "typ": "at+jwt"})),
        Just(json!({"alg": "none"})),
        Just(json!({"alg": "HS256", "kid": "nexus-testkit-rs256"})),
        Just(json!({"alg": "RS256", "kid": "nexus-testkit-rs256"})),
        Just(json!({"iss": "x", "sub": "alice", "aud": "nexus", "exp": i64::MAX})),
        "[ -~]{0,24}".prop_map(Value::String),
    ];
    let part = prop_oneof![
        json_part.prop_map(|v| URL_SAFE_NO_PAD.encode(v.to_string())),
        prop::collection::vec(any::<u8>(), 0..80).prop_map(|b| URL_SAFE_NO_PAD.encode(b)),
        "[A-Za-z0-9_=+/-]{0,12}",
    ];
    (part.clone(), part.clone(), part).prop_map(|(h, p, s)| format!("{h}.{p}.{s}"))
}

/// The order of the P-256 group, big-endian.
const P256_N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// The same signature with `s` replaced by `n − s`: the second form ECDSA itself accepts.
fn with_negated_s(token: &str) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (signed, signature) = token.rsplit_once('.').expect("a JWT");
    let raw = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
    let (r, s) = raw.split_at(32);
    let mut negated = [0u8; 32];
    let mut carry = 0i32;
    for i in (0..32).rev() {
        let d = i32::from(P256_N[i]) - i32::from(s[i]) - carry;
        carry = i32::from(d < 0);
        negated[i] = (d + 256 * carry) as u8;
    }
    format!(
        "{signed}.{}",
        URL_SAFE_NO_PAD.encode([r, &negated].concat())
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_edit_of_a_session_token_is_accepted(e in edit()) {
        let f = fixture();
        let edited = apply(&f.session_token, &e);
        prop_assume!(edited != f.session_token);
        prop_assert!(!f.session_accepts(&edited), "accepted {e:?}");
    }

    #[test]
    fn any_text_is_refused_as_a_session_token(text in prop_oneof![jwt_shaped(), "\\PC{0,200}"]) {
        prop_assert!(!fixture().session_accepts(&text));
    }

    #[test]
    fn no_edit_of_a_subject_token_is_accepted(e in edit()) {
        let f = fixture();
        let token = f.valid_user_token();
        let edited = apply(&token, &e);
        prop_assume!(edited != token);
        prop_assert!(!f.subject_accepts(&edited), "accepted {e:?}");
    }

    #[test]
    fn any_text_is_refused_as_a_subject_token(text in prop_oneof![jwt_shaped(), "\\PC{0,200}"]) {
        prop_assert!(!fixture().subject_accepts(&text));
    }
}

proptest! {
    // Each case signs a fresh token; about half of ECDSA signatures come out high-S unsigned.
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn a_session_signature_has_one_accepted_form(_n in 0u8..1) {
        let f = fixture();
        let token = f.rt.block_on(sign_session(&f.signer, &f.store));
        prop_assert!(f.session_accepts(&token));
        prop_assert!(!f.session_accepts(&with_negated_s(&token)));
    }
}

/// A claim set for a subject token, each field valid or broken in one documented way.
#[derive(Debug, Clone)]
struct UserClaims {
    trusted_issuer: bool,
    aud: Option<&'static str>,
    expired: bool,
    nbf_ahead: Option<i64>,
    iat_ahead: Option<i64>,
    act: bool,
    sub: SubKind,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum SubKind {
    Missing,
    Empty,
    User,
    Control,
    TooLong,
    Agent,
}

/// Seconds ahead of now: well inside the skew, or well past it (never near its edge).
fn ahead() -> impl Strategy<Value = Option<i64>> {
    prop::option::of(prop::sample::select(vec![
        -600,
        0,
        CLOCK_SKEW_SECONDS / 2,
        CLOCK_SKEW_SECONDS * 10,
    ]))
}

fn user_claims() -> impl Strategy<Value = UserClaims> {
    (
        any::<bool>(),
        prop::option::of(prop::sample::select(vec![AUDIENCE, "someone-else"])),
        any::<bool>(),
        ahead(),
        ahead(),
        any::<bool>(),
        prop::sample::select(vec![
            SubKind::Missing,
            SubKind::Empty,
            SubKind::User,
            SubKind::Control,
            SubKind::TooLong,
            SubKind::Agent,
        ]),
    )
        .prop_map(
            |(trusted_issuer, aud, expired, nbf_ahead, iat_ahead, act, sub)| UserClaims {
                trusted_issuer,
                aud,
                expired,
                nbf_ahead,
                iat_ahead,
                act,
                sub,
            },
        )
}

impl UserClaims {
    /// What the documented rules say about this claim set.
    fn acceptable(&self) -> bool {
        let not_ahead = |t: Option<i64>| t.is_none_or(|s| s <= CLOCK_SKEW_SECONDS);
        self.trusted_issuer
            && self.aud == Some(AUDIENCE)
            && !self.expired
            && not_ahead(self.nbf_ahead)
            && not_ahead(self.iat_ahead)
            && !self.act
            && self.sub == SubKind::User
    }

    fn token(&self, f: &Fixture) -> String {
        let now = chrono::Utc::now().timestamp();
        let mut claims = json!({
            "iss": if self.trusted_issuer { f.idp.issuer() } else { "https://idp.example".into() },
            "exp": if self.expired { now - 30 } else { now + 300 },
            "scope": "crm:read",
        });
        if let Some(aud) = self.aud {
            claims["aud"] = json!(aud);
        }
        if let Some(s) = self.nbf_ahead {
            claims["nbf"] = json!(now + s);
        }
        if let Some(s) = self.iat_ahead {
            claims["iat"] = json!(now + s);
        }
        if self.act {
            claims["act"] = json!({"sub": "someone"});
        }
        let sub = match self.sub {
            SubKind::Missing => None,
            SubKind::Empty => Some(String::new()),
            SubKind::User => Some("alice".to_owned()),
            SubKind::Control => Some("ali\u{7}ce".to_owned()),
            SubKind::TooLong => Some("a".repeat(501)),
            SubKind::Agent => Some(f.agent_id.clone()),
        };
        if let Some(sub) = sub {
            claims["sub"] = json!(sub);
        }
        f.idp.mint_jwt(&claims)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_subject_token_is_accepted_exactly_when_its_claims_follow_the_rules(c in user_claims()) {
        let f = fixture();
        let token = c.token(f);
        prop_assert_eq!(f.subject_accepts(&token), c.acceptable(), "{:?}", c);
    }
}

/// An ID-JAG (`typ: oauth-id-jag+jwt`) is a grant for the authorization server: even with
/// claims a subject token would pass, On-Behalf-Of refuses it (an issuer trusted for both must
/// not turn one into the other).
#[test]
fn an_id_jag_is_not_a_subject_token() {
    let f = fixture();
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "iss": f.idp.issuer(), "sub": "alice", "aud": AUDIENCE,
        "iat": now, "exp": now + 300, "scope": "crm:read",
    });
    assert!(f.subject_accepts(&f.idp.mint_jwt(&claims)));
    let id_jag = f
        .idp
        .mint_jwt_typed(nexus_protocol::oauth::ID_JAG_TYP, &claims);
    assert!(!f.subject_accepts(&id_jag));
}
