//! The keyring: which keys a broker holds, which one seals, how it is stored on disk, and
//! sealing / opening values under it.

use super::sealed::{FORMAT_VERSION, NONCE_LEN, split_sealed};
use super::{Aad, CryptoError, MasterKey};
use aes_gcm::Nonce;
use aes_gcm::aead::{Aead, Payload};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::path::Path;

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
    use crate::crypto::sealed_key_id;

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
