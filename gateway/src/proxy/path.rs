//! The proxy's path normaliser (design 16 §4): a pure function from the raw path tail a caller
//! sent to the segments forwarded under the provider's base path.
//!
//! Nothing is ever *resolved*: a segment that is, or decodes to, a dot segment in any encoding
//! is refused, so no two parsers (ours, the HTTP client's, the upstream's) can disagree about
//! where a path leads. The only rewriting is RFC 3986 §6.2.2 normalisation (unreserved `%HH`
//! decoded, hex upper-cased), which no parser gives a meaning to.

use std::fmt;

/// Longest raw path tail accepted.
pub const MAX_PATH_LEN: usize = 8192;

/// The forwarded path: segments as they go on the wire (percent-encoded), relative to the base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalPath {
    segments: Vec<String>,
}

impl NormalPath {
    /// `a/b/` (no leading slash; empty for the base itself).
    pub fn joined(&self) -> String {
        self.segments.join("/")
    }

    /// The segments percent-decoded once (what `proxy.rules` patterns are matched against); a
    /// trailing empty segment is kept (the matcher ignores it).
    pub fn decoded_segments(&self) -> Vec<String> {
        self.segments
            .iter()
            .map(|s| String::from_utf8_lossy(&decode(s.as_bytes())).into_owned())
            .collect()
    }

    /// The segments as forwarded.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().map(String::as_str)
    }

    /// The target path under `base_path`: `base_path` without its trailing `/`, then `/joined`.
    pub fn under(&self, base_path: &str) -> String {
        let mut out = String::new();
        self.push_under(&mut out, base_path);
        out
    }

    /// [`Self::under`], appended to `out` (the upstream URL is built in one buffer).
    pub fn push_under(&self, out: &mut String, base_path: &str) {
        out.push_str(base_path.trim_end_matches('/'));
        out.push('/');
        for (i, segment) in self.segments.iter().enumerate() {
            if i > 0 {
                out.push('/');
            }
            out.push_str(segment);
        }
    }
}

/// Why a path was refused; every variant is a 400 `invalid_proxy_path`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// A byte outside RFC 3986 `pchar` / `/` / `%` (controls, space, `\`, non-ASCII, …).
    ForbiddenByte,
    /// `%` not followed by two hex digits.
    BadPercentEncoding,
    /// `%2F` inside a segment (the provider does not allow encoded slashes).
    EncodedSlash,
    /// A decoded backslash or control byte.
    ForbiddenEncodedByte,
    /// A segment still percent-encoded after one decoding (`%252e`).
    DoubleEncoding,
    /// `.`, `..` or an equivalent in any encoding.
    DotSegment,
    /// `a//b`.
    EmptySegment,
    /// Longer than [`MAX_PATH_LEN`].
    TooLong,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ForbiddenByte => "the path has a character that must be percent-encoded",
            Self::BadPercentEncoding => "the path has a `%` not followed by two hex digits",
            Self::EncodedSlash => "the path has an encoded `/` (%2F) inside a segment",
            Self::ForbiddenEncodedByte => "the path has an encoded backslash or control character",
            Self::DoubleEncoding => "the path is percent-encoded twice",
            Self::DotSegment => "the path has a `.` or `..` segment",
            Self::EmptySegment => "the path has an empty segment (`//`)",
            Self::TooLong => "the path is too long",
        })
    }
}

/// RFC 3986 `pchar` minus `%` (checked separately), plus `/`.
fn is_path_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
                | b'/'
        )
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// The byte encoded at `bytes[i..i + 3]` when it is a valid `%HH`.
fn percent_at(bytes: &[u8], i: usize) -> Option<u8> {
    if bytes.get(i) != Some(&b'%') {
        return None;
    }
    let hi = hex_value(*bytes.get(i + 1)?)?;
    let lo = hex_value(*bytes.get(i + 2)?)?;
    Some(hi << 4 | lo)
}

fn decode(segment: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(segment.len());
    let mut i = 0;
    while i < segment.len() {
        match percent_at(segment, i) {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(segment[i]);
                i += 1;
            }
        }
    }
    out
}

/// `.`, `..`, `...`, `. .` (and the same before a `;` matrix parameter): a segment that some
/// parser may treat as a dot segment.
fn is_dot_like(piece: &[u8]) -> bool {
    let name = piece.split(|b| *b == b';').next().unwrap_or_default();
    !name.is_empty()
        && name.contains(&b'.')
        && name.iter().all(|b| matches!(b, b'.' | b' ' | b'\t'))
}

fn check_decoded_piece(piece: &[u8]) -> Result<(), PathError> {
    if piece.iter().any(|&b| b == b'\\' || b < 0x20 || b == 0x7f) {
        return Err(PathError::ForbiddenEncodedByte);
    }
    if (0..piece.len()).any(|i| percent_at(piece, i).is_some()) {
        return Err(PathError::DoubleEncoding);
    }
    if is_dot_like(piece) {
        return Err(PathError::DotSegment);
    }
    Ok(())
}

/// One raw segment, checked, as forwarded (unreserved `%HH` decoded, hex upper-cased).
fn segment(raw: &[u8], allow_encoded_slash: bool) -> Result<String, PathError> {
    let decoded = decode(raw);
    if decoded.contains(&b'/') {
        if !allow_encoded_slash {
            return Err(PathError::EncodedSlash);
        }
        for piece in decoded.split(|b| *b == b'/') {
            if piece.is_empty() {
                return Err(PathError::EmptySegment);
            }
            check_decoded_piece(piece)?;
        }
    } else {
        check_decoded_piece(&decoded)?;
    }
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match percent_at(raw, i) {
            Some(b) if is_unreserved(b) => {
                out.push(b as char);
                i += 3;
            }
            Some(b) => {
                out.push_str(&format!("%{b:02X}"));
                i += 3;
            }
            None => {
                out.push(raw[i] as char);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Normalise the raw path tail after `/v1/proxy/{ws}/{provider}` (empty, or starting with `/`).
pub fn normalise(raw: &str, allow_encoded_slash: bool) -> Result<NormalPath, PathError> {
    if raw.len() > MAX_PATH_LEN {
        return Err(PathError::TooLong);
    }
    let bytes = raw.as_bytes();
    if !bytes.iter().all(|&b| is_path_byte(b) || b == b'%') {
        return Err(PathError::ForbiddenByte);
    }
    if (0..bytes.len()).any(|i| bytes[i] == b'%' && percent_at(bytes, i).is_none()) {
        return Err(PathError::BadPercentEncoding);
    }
    let tail = raw.strip_prefix('/').unwrap_or(raw);
    if tail.is_empty() {
        return Ok(NormalPath {
            segments: Vec::new(),
        });
    }
    let raw_segments: Vec<&str> = tail.split('/').collect();
    let last = raw_segments.len() - 1;
    let mut segments = Vec::with_capacity(raw_segments.len());
    for (i, raw_segment) in raw_segments.iter().enumerate() {
        if raw_segment.is_empty() {
            if i == last {
                segments.push(String::new());
                continue;
            }
            return Err(PathError::EmptySegment);
        }
        segments.push(segment(raw_segment.as_bytes(), allow_encoded_slash)?);
    }
    Ok(NormalPath { segments })
}

/// Check a raw query string: the same bytes as a path plus `?`, every `%` a valid `%HH`.
pub fn check_query(query: &str) -> Result<(), PathError> {
    let bytes = query.as_bytes();
    if !bytes
        .iter()
        .all(|&b| is_path_byte(b) || b == b'%' || b == b'?')
    {
        return Err(PathError::ForbiddenByte);
    }
    if (0..bytes.len()).any(|i| bytes[i] == b'%' && percent_at(bytes, i).is_none()) {
        return Err(PathError::BadPercentEncoding);
    }
    Ok(())
}

#[cfg(test)]
#[path = "path_tests.rs"]
mod tests;
