//! Encryption at rest: AES-256-GCM with a keyring and row-bound associated data.
//!
//! Sealed format (stored as BLOB/BYTEA):
//!
//! ```text
//! [0x01 version][key id length: u8][key id: ASCII][nonce: 12 bytes][ciphertext + 16-byte tag]
//! ```
//!
//! The key id travels with the ciphertext so that rows written under an older key stay readable
//! after rotation. The associated data ([`Aad`]) names the table, the row and the column a value
//! belongs to: the tag covers it, so a ciphertext copied into another row or field fails to open.
//!
//! - `key.rs`: [`MasterKey`], one key and its self-derived id.
//! - `keyring.rs`: [`Keyring`], the keys in use, its file, sealing and opening, derived keys.
//! - `sealed.rs`: the sealed format above, read and written in one place.
//! - `sealer.rs`: [`Sealer`], the keyring one broker process shares, reloaded on rotation.

mod key;
mod keyring;
mod sealed;
mod sealer;

pub use key::MasterKey;
pub use keyring::Keyring;
pub use sealed::sealed_key_id;
pub use sealer::Sealer;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum CryptoError {
    #[error("master key must be base64 of exactly 32 bytes")]
    BadKeyMaterial,
    #[error("keyring file {path}: {reason}")]
    KeyringFile { path: String, reason: String },
    #[error("no master key configured (set NEXUS_MASTER_KEY or NEXUS_MASTER_KEY_FILE)")]
    NoKey,
    #[error("ciphertext is malformed (truncated or unknown format)")]
    Malformed,
    #[error("ciphertext was sealed with key `{0}`, which is not in the keyring")]
    UnknownKey(String),
    #[error(
        "decryption failed for {0}: the ciphertext was tampered with, belongs to another row, or the key is wrong"
    )]
    Integrity(String),
}

/// What a ciphertext is bound to: `table`, owning workspace (or `-`), row id and column.
#[derive(Debug, Clone)]
pub struct Aad<'a> {
    pub table: &'a str,
    pub workspace: &'a str,
    pub row: &'a str,
    pub column: &'a str,
}

impl Aad<'_> {
    pub(super) fn bytes(&self) -> Vec<u8> {
        // Length-prefixed so that no two different tuples produce the same bytes.
        let mut out = b"nexus-aad-v1".to_vec();
        for part in [self.table, self.workspace, self.row, self.column] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
        out
    }

    pub(super) fn label(&self) -> String {
        format!("{}.{} (row {})", self.table, self.column, self.row)
    }
}
