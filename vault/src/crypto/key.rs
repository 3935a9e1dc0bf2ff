//! One master key: the 256 bits, never printed, and the id that names them in sealed values.

use super::CryptoError;
use aes_gcm::Aes256Gcm;
use aes_gcm::aead::KeyInit;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use secrecy::{ExposeSecret, SecretBox};
use sha2::{Digest, Sha256};

/// One 256-bit key. The id is derived from the key itself (first 8 bytes of SHA-256, hex), so
/// every broker process given the same key agrees on its id without coordination.
pub struct MasterKey {
    pub(super) id: String,
    pub(super) key: SecretBox<[u8; 32]>,
}

impl MasterKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let digest = Sha256::digest(
            b"nexus-key-id-v1"
                .iter()
                .chain(bytes.iter())
                .copied()
                .collect::<Vec<u8>>(),
        );
        let id = hex::encode(&digest[..8]);
        Self {
            id,
            key: SecretBox::new(Box::new(bytes)),
        }
    }

    pub fn from_base64(text: &str) -> Result<Self, CryptoError> {
        let raw = B64
            .decode(text.trim())
            .map_err(|_| CryptoError::BadKeyMaterial)?;
        let bytes: [u8; 32] = raw.try_into().map_err(|_| CryptoError::BadKeyMaterial)?;
        Ok(Self::from_bytes(bytes))
    }

    pub fn generate() -> Self {
        Self::from_bytes(rand::random())
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn to_base64(&self) -> String {
        B64.encode(self.key.expose_secret())
    }

    pub(super) fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(self.key.expose_secret().into())
    }
}

impl Clone for MasterKey {
    fn clone(&self) -> Self {
        Self::from_bytes(*self.key.expose_secret())
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({}, [redacted])", self.id)
    }
}
