//! Issue 14 item 9: a session token has one valid string. The same signature with `s` replaced
//! by `n − s` (the high-S twin, which ECDSA verification alone accepts) is refused.

use super::{IdStack, common};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

/// The order of the P-256 group, big-endian.
const P256_N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// `token` with its signature's `s` replaced by `n − s`.
fn high_s_twin(token: &str) -> String {
    let (signed, signature) = token.rsplit_once('.').expect("a JWT");
    let mut raw = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
    assert_eq!(raw.len(), 64, "ES256 signatures are r || s");
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut digit = i16::from(P256_N[i]) - i16::from(raw[32 + i]) - borrow;
        borrow = i16::from(digit < 0);
        if digit < 0 {
            digit += 256;
        }
        raw[32 + i] = u8::try_from(digit).expect("a byte");
    }
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(raw))
}

pub(super) async fn high_s_signatures_are_refused(stack: &IdStack) {
    let (_, credential) = stack.create_agent("acme", &["acme:gliding"], None).await;
    // Several tokens: each is signed with a fresh nonce, so about half of them would be
    // high-S if the broker did not normalise.
    for _ in 0..4 {
        let (status, session) = stack.session(&credential, json!({})).await;
        assert_eq!(status, 201, "{session}");
        let token = session["session_token"].as_str().unwrap();
        let authorize = |bearer: String| async move {
            stack
                .gateway(
                    "POST",
                    "/v1/authorize",
                    &bearer,
                    Some(json!({"scope": "acme:gliding"})),
                )
                .await
        };
        let (status, body) = authorize(token.to_owned()).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = authorize(high_s_twin(token)).await;
        common::assert_error(status, &body, 401, "unauthorized");
    }
}

/// The session `iss` is the configured public URL, whatever `Host` and `X-Forwarded-Proto`
/// the caller sends.
pub(super) async fn issuer_is_the_configured_public_url(stack: &IdStack) {
    let mut config = common::test_config(&stack.broker_url);
    config.public_url = Some("https://nexus.example.com".into());
    let gateway = common::serve_gateway(config).await;
    let (_, credential) = stack.create_agent("acme", &["acme:gliding"], None).await;
    let response = stack
        .http
        .post(format!("{gateway}/v1/sessions"))
        .bearer_auth(&credential)
        .header("Host", "evil.example")
        .header("X-Forwarded-Proto", "https")
        .json(&json!({}))
        .send()
        .await
        .expect("gateway reachable");
    let (status, session) = common::status_and_json(response).await;
    assert_eq!(status, 201, "{session}");
    let claims = super::jwt_part(session["session_token"].as_str().unwrap(), 1);
    assert_eq!(claims["iss"], "https://nexus.example.com", "{claims}");
}
