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

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use secrecy::{ExposeSecret, SecretBox};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;
use thiserror::Error;

const FORMAT_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;

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
    fn bytes(&self) -> Vec<u8> {
        // Length-prefixed so that no two different tuples produce the same bytes.
        let mut out = b"nexus-aad-v1".to_vec();
        for part in [self.table, self.workspace, self.row, self.column] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
        out
    }

    fn label(&self) -> String {
        format!("{}.{} (row {})", self.table, self.column, self.row)
    }
}

/// One 256-bit key. The id is derived from the key itself (first 8 bytes of SHA-256, hex), so
/// every broker process given the same key agrees on its id without coordination.
pub struct MasterKey {
    id: String,
    key: SecretBox<[u8; 32]>,
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

    fn cipher(&self) -> Aes256Gcm {
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

/// The on-disk keyring file: `{"active": "<id>", "keys": ["<base64>", …]}`. A plain file holding
/// one base64 key is accepted too.
#[derive(Serialize, Deserialize)]
struct KeyringFile {
    active: String,
    keys: Vec<String>,
}

/// Several keys: one active (used to seal), the others decrypt-only.
#[derive(Debug, Clone)]
pub struct Keyring {
    keys: BTreeMap<String, MasterKey>,
    active: String,
}

impl Keyring {
    pub fn single(key: MasterKey) -> Self {
        let active = key.id.clone();
        Self {
            keys: BTreeMap::from([(active.clone(), key)]),
            active,
        }
    }

    /// Build from keys; the active one is `active_id` (must be present).
    pub fn new(keys: Vec<MasterKey>, active_id: &str) -> Result<Self, CryptoError> {
        let keys: BTreeMap<String, MasterKey> =
            keys.into_iter().map(|k| (k.id.clone(), k)).collect();
        if !keys.contains_key(active_id) {
            return Err(CryptoError::NoKey);
        }
        Ok(Self {
            keys,
            active: active_id.to_owned(),
        })
    }

    pub fn load_file(path: &Path) -> Result<Self, CryptoError> {
        let err = |reason: String| CryptoError::KeyringFile {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let trimmed = text.trim();
        if !trimmed.starts_with('{') {
            return MasterKey::from_base64(trimmed).map(Self::single);
        }
        let file: KeyringFile =
            serde_json::from_str(trimmed).map_err(|e| err(format!("not a keyring: {e}")))?;
        let keys = file
            .keys
            .iter()
            .map(|k| MasterKey::from_base64(k))
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(keys, &file.active).map_err(|_| err("`active` names no key in `keys`".into()))
    }

    /// Write the keyring atomically (temp file + rename), readable by the owner only.
    pub fn save_file(&self, path: &Path) -> Result<(), CryptoError> {
        let err = |reason: String| CryptoError::KeyringFile {
            path: path.display().to_string(),
            reason,
        };
        let file = KeyringFile {
            active: self.active.clone(),
            keys: self.keys.values().map(MasterKey::to_base64).collect(),
        };
        let text = serde_json::to_string_pretty(&file).map_err(|e| err(e.to_string()))?;
        let tmp = path.with_extension("tmp");
        write_private(&tmp, text.as_bytes()).map_err(|e| err(e.to_string()))?;
        std::fs::rename(&tmp, path).map_err(|e| err(e.to_string()))
    }

    pub fn active_id(&self) -> &str {
        &self.active
    }

    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.keys.contains_key(id)
    }

    /// Add `key` and make it the active one; older keys stay for decryption.
    pub fn rotate_to(&mut self, key: MasterKey) {
        self.active = key.id.clone();
        self.keys.insert(key.id.clone(), key);
    }

    /// Merge keys from another keyring (e.g. the reloaded file) and take its active key.
    pub fn merge(&mut self, other: Keyring) {
        self.active = other.active.clone();
        self.keys.extend(other.keys);
    }

    /// A 256-bit key for `label`, derived from the active master key (HMAC-SHA256): for
    /// secrets that are not encryption keys (e.g. audit fingerprints of issued tokens).
    pub fn derive_key(&self, label: &str) -> [u8; 32] {
        self.derive_key_from(&self.active, label)
            .unwrap_or_else(|| unreachable!("the active key is always in the ring"))
    }

    /// The active key's id and the key for `label` derived from it: for a derived key that
    /// must stay checkable after rotation, the caller records the id next to what it protects
    /// and later derives again with [`Keyring::derive_key_from`] (older keys stay in the ring).
    pub fn derive_active_key(&self, label: &str) -> (String, [u8; 32]) {
        (self.active.clone(), self.derive_key(label))
    }

    /// The key for `label` derived from the master key `key_id`, if the ring holds it.
    pub fn derive_key_from(&self, key_id: &str, label: &str) -> Option<[u8; 32]> {
        use hmac::{Hmac, Mac};
        let key = self.keys.get(key_id)?;
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.key.expose_secret())
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(label.as_bytes());
        Some(mac.finalize().into_bytes().into())
    }

    pub fn seal(&self, plaintext: &[u8], aad: &Aad<'_>) -> Vec<u8> {
        let key = &self.keys[&self.active];
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let aad_bytes = aad.bytes();
        // Encryption with a valid 32-byte key and 12-byte nonce cannot fail for inputs below
        // the 64 GiB GCM limit; an empty vector would fail loudly at open time, never silently.
        let ct = key
            .cipher()
            .encrypt(
                Nonce::from_slice(&nonce_bytes),
                Payload {
                    msg: plaintext,
                    aad: &aad_bytes,
                },
            )
            .unwrap_or_default();
        let mut out = Vec::with_capacity(2 + key.id.len() + NONCE_LEN + ct.len());
        out.push(FORMAT_VERSION);
        out.push(key.id.len() as u8);
        out.extend_from_slice(key.id.as_bytes());
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&ct);
        out
    }

    pub fn open(&self, sealed: &[u8], aad: &Aad<'_>) -> Result<Vec<u8>, CryptoError> {
        let (key_id, nonce, ct) = split_sealed(sealed)?;
        let key = self
            .keys
            .get(key_id)
            .ok_or_else(|| CryptoError::UnknownKey(key_id.to_owned()))?;
        let aad_bytes = aad.bytes();
        key.cipher()
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: &aad_bytes,
                },
            )
            .map_err(|_| CryptoError::Integrity(aad.label()))
    }

    pub fn seal_str(&self, plaintext: &str, aad: &Aad<'_>) -> Vec<u8> {
        self.seal(plaintext.as_bytes(), aad)
    }

    pub fn open_str(&self, sealed: &[u8], aad: &Aad<'_>) -> Result<String, CryptoError> {
        let bytes = self.open(sealed, aad)?;
        String::from_utf8(bytes).map_err(|_| CryptoError::Integrity(aad.label()))
    }
}

/// The key id a sealed value names (for rotation bookkeeping).
pub fn sealed_key_id(sealed: &[u8]) -> Result<&str, CryptoError> {
    split_sealed(sealed).map(|(id, _, _)| id)
}

fn split_sealed(sealed: &[u8]) -> Result<(&str, &[u8], &[u8]), CryptoError> {
    let (&version, rest) = sealed.split_first().ok_or(CryptoError::Malformed)?;
    if version != FORMAT_VERSION {
        return Err(CryptoError::Malformed);
    }
    let (&id_len, rest) = rest.split_first().ok_or(CryptoError::Malformed)?;
    let id_len = id_len as usize;
    if rest.len() < id_len + NONCE_LEN + 16 {
        return Err(CryptoError::Malformed);
    }
    let key_id = std::str::from_utf8(&rest[..id_len]).map_err(|_| CryptoError::Malformed)?;
    let nonce = &rest[id_len..id_len + NONCE_LEN];
    Ok((key_id, nonce, &rest[id_len + NONCE_LEN..]))
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aad<'a>(row: &'a str, column: &'a str) -> Aad<'a> {
        Aad {
            table: "connections",
            workspace: "ws",
            row,
            column,
        }
    }

    #[test]
    fn round_trip_and_fresh_nonce() {
        let ring = Keyring::single(MasterKey::generate());
        let a = ring.seal_str("tok", &aad("c1", "access_token"));
        let b = ring.seal_str("tok", &aad("c1", "access_token"));
        assert_ne!(a, b, "each seal must use a fresh nonce");
        assert_eq!(
            ring.open_str(&a, &aad("c1", "access_token")).unwrap(),
            "tok"
        );
    }

    #[test]
    fn bit_flip_other_row_and_wrong_key_fail() {
        let ring = Keyring::single(MasterKey::generate());
        let mut sealed = ring.seal_str("secret-value", &aad("c1", "refresh_token"));
        assert!(matches!(
            ring.open(&sealed, &aad("c2", "refresh_token")),
            Err(CryptoError::Integrity(_))
        ));
        assert!(matches!(
            ring.open(&sealed, &aad("c1", "access_token")),
            Err(CryptoError::Integrity(_))
        ));
        let other = Keyring::single(MasterKey::generate());
        assert!(matches!(
            other.open(&sealed, &aad("c1", "refresh_token")),
            Err(CryptoError::UnknownKey(_))
        ));
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        let err = ring.open(&sealed, &aad("c1", "refresh_token")).unwrap_err();
        assert!(matches!(err, CryptoError::Integrity(_)));
        assert!(!err.to_string().contains("secret-value"));
        assert!(matches!(
            ring.open(&[1, 2, 3], &aad("c1", "x")),
            Err(CryptoError::Malformed)
        ));
    }

    #[test]
    fn old_keys_still_open_after_rotation() {
        let mut ring = Keyring::single(MasterKey::generate());
        let old_id = ring.active_id().to_owned();
        let sealed = ring.seal_str("v", &aad("c1", "f"));
        ring.rotate_to(MasterKey::generate());
        assert_ne!(ring.active_id(), old_id);
        assert_eq!(sealed_key_id(&sealed).unwrap(), old_id);
        assert_eq!(ring.open_str(&sealed, &aad("c1", "f")).unwrap(), "v");
        let resealed = ring.seal_str("v", &aad("c1", "f"));
        assert_eq!(sealed_key_id(&resealed).unwrap(), ring.active_id());
    }

    #[test]
    fn keyring_file_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let mut ring = Keyring::single(MasterKey::generate());
        ring.rotate_to(MasterKey::generate());
        ring.save_file(&path).unwrap();
        let loaded = Keyring::load_file(&path).unwrap();
        assert_eq!(loaded.active_id(), ring.active_id());
        assert_eq!(loaded.key_ids().count(), 2);
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
    }
}

/// The keyring shared by every task of one broker process, plus where to reload it from.
///
/// A ciphertext under an unknown key id means another broker process rotated: the sealer then
/// reloads the keyring file once and retries, so rotation needs no restart anywhere.
#[derive(Debug)]
pub struct Sealer {
    ring: parking_lot::RwLock<Keyring>,
    file: Option<std::path::PathBuf>,
}

impl Sealer {
    pub fn new(ring: Keyring, file: Option<std::path::PathBuf>) -> Self {
        Self {
            ring: parking_lot::RwLock::new(ring),
            file,
        }
    }

    pub fn seal(&self, plaintext: &str, aad: &Aad<'_>) -> Vec<u8> {
        self.ring.read().seal_str(plaintext, aad)
    }

    pub fn open(&self, sealed: &[u8], aad: &Aad<'_>) -> Result<String, CryptoError> {
        let first = self.ring.read().open_str(sealed, aad);
        match first {
            Err(CryptoError::UnknownKey(_)) if self.reload() => {
                self.ring.read().open_str(sealed, aad)
            }
            other => other,
        }
    }

    pub fn active_id(&self) -> String {
        self.ring.read().active_id().to_owned()
    }

    /// See [`Keyring::derive_key`].
    pub fn derive_key(&self, label: &str) -> [u8; 32] {
        self.ring.read().derive_key(label)
    }

    /// See [`Keyring::derive_active_key`].
    pub fn derive_active_key(&self, label: &str) -> (String, [u8; 32]) {
        self.ring.read().derive_active_key(label)
    }

    /// See [`Keyring::derive_key_from`]; reloads the keyring file once for an unknown id (another
    /// process may have rotated).
    pub fn derive_key_from(&self, key_id: &str, label: &str) -> Option<[u8; 32]> {
        let first = self.ring.read().derive_key_from(key_id, label);
        first.or_else(|| {
            self.reload()
                .then(|| self.ring.read().derive_key_from(key_id, label))
                .flatten()
        })
    }

    pub fn key_ids(&self) -> Vec<String> {
        self.ring.read().key_ids().map(str::to_owned).collect()
    }

    /// Make `key` active, persisting the keyring file first when there is one (a rotation that
    /// cannot be saved must not start re-encrypting under a key that would be lost).
    pub fn rotate_to(&self, key: MasterKey) -> Result<(), CryptoError> {
        let mut ring = self.ring.write();
        let mut next = ring.clone();
        next.rotate_to(key);
        if let Some(path) = &self.file {
            next.save_file(path)?;
        }
        *ring = next;
        Ok(())
    }

    pub fn has_file(&self) -> bool {
        self.file.is_some()
    }

    fn reload(&self) -> bool {
        let Some(path) = &self.file else { return false };
        match Keyring::load_file(path) {
            Ok(loaded) => {
                self.ring.write().merge(loaded);
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not reload keyring file");
                false
            }
        }
    }
}
