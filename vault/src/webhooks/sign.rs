//! Standard Webhooks signatures: `v1,<base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))>`,
//! where `key` is the base64-decoded part of the `whsec_` secret after its prefix.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use nexus_protocol::SecretString;
use nexus_protocol::webhooks::SECRET_PREFIX;
use sha2::Sha256;

/// A new signing secret: `whsec_` + base64 of 32 random bytes.
pub fn generate_secret() -> SecretString {
    let key: [u8; 32] = rand::random();
    SecretString::new(format!("{SECRET_PREFIX}{}", STANDARD.encode(key)))
}

/// The key bytes of a `whsec_` secret (`None` for a malformed one).
fn key_of(secret: &SecretString) -> Option<Vec<u8>> {
    let b64 = secret.expose().strip_prefix(SECRET_PREFIX)?;
    STANDARD.decode(b64).ok().filter(|k| !k.is_empty())
}

/// The `webhook-signature` value: one `v1,…` entry per secret, space-separated, in the order
/// given (the current secret first during a rotation). Malformed secrets are skipped.
pub fn signature_header(secrets: &[SecretString], id: &str, timestamp: i64, body: &str) -> String {
    secrets
        .iter()
        .filter_map(key_of)
        .map(|key| {
            let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
            mac.update(format!("{id}.{timestamp}.").as_bytes());
            mac.update(body.as_bytes());
            format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of the Standard Webhooks reference libraries (secret, id, timestamp,
    /// body and the signature they publish), so our signer matches every other implementation.
    #[test]
    fn matches_the_specification_example() {
        let secret = SecretString::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned());
        let sig = signature_header(
            &[secret],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn two_secrets_give_two_entries_and_secrets_are_fresh() {
        let (a, b) = (generate_secret(), generate_secret());
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().starts_with("whsec_"));
        let sig = signature_header(&[a.clone(), b], "msg_1", 1, "{}");
        let entries: Vec<&str> = sig.split(' ').collect();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0], signature_header(&[a], "msg_1", 1, "{}"));
    }
}
