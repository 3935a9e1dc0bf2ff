//! The keyring one broker process shares between its tasks.

use super::{Aad, CryptoError, Keyring, MasterKey};

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
