//! Sizes and durations as proxy settings spell them: a bare number or a string with a unit.
//! The serde helpers keep the parse error's words about the form, not about serde.

use serde::{Deserialize, Deserializer};

#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrText {
    Number(u64),
    Text(String),
}

pub(super) fn size_de<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Option::<NumberOrText>::deserialize(d)? {
        None => Ok(None),
        Some(NumberOrText::Number(n)) => Ok(Some(n)),
        Some(NumberOrText::Text(t)) => parse_size(&t).map(Some).ok_or_else(|| {
            serde::de::Error::custom("a size is bytes or a number with B, KiB, MiB or GiB")
        }),
    }
}

/// Written as `"<n>ms"`, so reading it back (a bare number is seconds) gives the same value.
pub(super) fn duration_ms_ser<S: serde::Serializer>(
    value: &Option<u64>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(ms) => s.serialize_str(&format!("{ms}ms")),
        None => s.serialize_none(),
    }
}

pub(super) fn duration_ms_de<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Option::<NumberOrText>::deserialize(d)? {
        None => Ok(None),
        Some(NumberOrText::Number(secs)) => Ok(secs.checked_mul(1000)),
        Some(NumberOrText::Text(t)) => parse_duration_ms(&t)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom("a duration is seconds or `30s` / `500ms`")),
    }
}

pub(super) fn signed_duration_ms_ser<S: serde::Serializer>(
    ms: &i64,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{ms}ms"))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum SignedNumberOrText {
    Number(i64),
    Text(String),
}

/// Like `duration_ms_de`, but a leading `-` is kept (and refused by the check, by name).
pub(super) fn signed_duration_ms_de<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let bad = || serde::de::Error::custom("a duration is seconds or `2s` / `500ms`");
    match SignedNumberOrText::deserialize(d)? {
        SignedNumberOrText::Number(secs) => secs.checked_mul(1000).ok_or_else(bad),
        SignedNumberOrText::Text(t) => {
            let t = t.trim();
            let (sign, rest) = match t.strip_prefix('-') {
                Some(rest) => (-1, rest),
                None => (1, t),
            };
            parse_duration_ms(rest)
                .and_then(|ms| i64::try_from(ms).ok())
                .map(|ms| sign * ms)
                .ok_or_else(bad)
        }
    }
}

/// `8MiB` → 8388608. Units: `B`, `KiB`, `MiB`, `GiB` (binary), or none.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return None,
    };
    number.parse::<u64>().ok()?.checked_mul(factor)
}

/// `30s` → 30000, `500ms` → 500, `2h`, `3d`; a bare number is seconds.
pub fn parse_duration_ms(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    let factor: u64 = match unit.trim() {
        "ms" => 1,
        "" | "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    number.parse::<u64>().ok()?.checked_mul(factor)
}
