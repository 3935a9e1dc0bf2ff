//! The sealed format (see the module documentation of `crypto`): version, key id, nonce,
//! ciphertext with tag. Written by [`super::Keyring::seal`], split here.

use super::CryptoError;

pub(super) const FORMAT_VERSION: u8 = 1;
pub(super) const NONCE_LEN: usize = 12;

/// The key id a sealed value names (for rotation bookkeeping).
pub fn sealed_key_id(sealed: &[u8]) -> Result<&str, CryptoError> {
    split_sealed(sealed).map(|(id, _, _)| id)
}

pub(super) fn split_sealed(sealed: &[u8]) -> Result<(&str, &[u8], &[u8]), CryptoError> {
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
