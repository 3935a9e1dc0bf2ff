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
        const TAG: &[u8] = b"nexus-aad-v1";
        let parts = [self.table, self.workspace, self.row, self.column];
        // Sized once: every resolve opens a token with one of these.
        let mut out =
            Vec::with_capacity(TAG.len() + parts.iter().map(|p| 4 + p.len()).sum::<usize>());
        out.extend_from_slice(TAG);
        for part in parts {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
        out
    }

    pub(super) fn label(&self) -> String {
        format!("{}.{} (row {})", self.table, self.column, self.row)
    }
}

#[cfg(test)]
mod tests {
    use super::Aad;

    /// Every sealed column was bound to these exact bytes: a change of layout would make each
    /// stored secret unreadable, so they are pinned here.
    #[test]
    fn the_associated_data_layout_is_stable() {
        let aad = Aad {
            table: "connections",
            workspace: "w1",
            row: "c-1",
            column: "access_token",
        };
        let mut expected = b"nexus-aad-v1".to_vec();
        for (len, text) in [
            (11u32, &b"connections"[..]),
            (2, b"w1"),
            (3, b"c-1"),
            (12, b"access_token"),
        ] {
            expected.extend_from_slice(&len.to_be_bytes());
            expected.extend_from_slice(text);
        }
        let bytes = aad.bytes();
        assert_eq!(bytes, expected);
        assert_eq!(bytes.capacity(), bytes.len(), "sized once");
    }
}
