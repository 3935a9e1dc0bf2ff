//! ECDSA P-256 signatures in their one canonical form (low S).
//!
//! For every ECDSA signature `(r, s)`, `(r, n − s)` verifies too, so without a rule every session
//! token would have a second valid string (a different token id for caches, logs and deny
//! lists). Nexus signs with `s ≤ n/2` and refuses the other form (issue 14 item 9).

/// The order `n` of the P-256 group, big-endian.
const N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];
/// `n / 2` (rounded down), big-endian: the largest canonical `s`.
const HALF_N: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xde, 0x73, 0x7d, 0x56, 0xd3, 0x8b, 0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8,
];

/// True when the raw `r || s` signature (64 bytes) has `s ≤ n/2`.
pub fn is_low_s(signature: &[u8]) -> bool {
    signature.len() == 64 && signature[32..] <= HALF_N[..]
}

/// `s → n − s` when `s > n/2` (a raw `r || s` signature of 64 bytes; other lengths untouched).
pub fn normalize(signature: &mut [u8]) {
    if signature.len() != 64 || is_low_s(signature) {
        return;
    }
    let s = &mut signature[32..];
    let mut borrow = 0u16;
    for i in (0..32).rev() {
        let minuend = u16::from(N[i]);
        let subtrahend = u16::from(s[i]) + borrow;
        let (digit, next) = if minuend >= subtrahend {
            (minuend - subtrahend, 0)
        } else {
            (minuend + 256 - subtrahend, 1)
        };
        s[i] = u8::try_from(digit).unwrap_or(0);
        borrow = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flipping_twice_is_the_identity_and_lands_low() {
        let mut high = [0u8; 64];
        high[32..].copy_from_slice(&N);
        high[63] -= 1; // s = n − 1: high
        assert!(!is_low_s(&high));
        let mut flipped = high;
        normalize(&mut flipped);
        assert!(is_low_s(&flipped));
        assert_eq!(flipped[63], 1, "n − (n − 1) = 1");
        assert!(flipped[32..63].iter().all(|b| *b == 0));
        let mut half = [0u8; 64];
        half[32..].copy_from_slice(&HALF_N);
        assert!(is_low_s(&half), "n/2 itself is canonical");
    }
}
