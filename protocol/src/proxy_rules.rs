//! Proxy scope rules (`proxy.rules` of a provider, design 16 §9): which methods and paths each
//! agent scope allows through proxy mode. Parsed once when a providers document is applied
//! (a bad pattern is a typed [`PatternError`]), and matched by one pure function,
//! [`authorize`], which the vault calls for every proxied call made under an agent session.
//!
//! Pattern grammar: `METHODS SP PATH`.
//! - `METHODS`: `*` or a comma list of upper-case method names (`GET`, `PATCH,DELETE`).
//! - `PATH`: starts with `/`; segments are literals (compared byte-exact with the call's
//!   percent-decoded segments), `*` (exactly one segment) or `**` (zero or more segments; at
//!   most two per pattern). No partial globs (`v*`), no `%`, no `.`/`..`, no query. A trailing
//!   `/` is ignored, on the pattern and on the call.
//!
//! Paths are relative to the provider's `api_base_url`: `GET /contacts/**` allows
//! `/v1/proxy/{ws}/crm/contacts/42` whatever the base path is.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Most rules one provider may declare.
pub const MAX_RULES: usize = 256;
/// Most segments in one pattern.
pub const MAX_SEGMENTS: usize = 32;
/// Most `**` in one pattern (keeps matching linear in practice).
pub const MAX_DOUBLE_GLOBS: usize = 2;

/// One rule as written: the holder of `scope` may make the calls `allow` describes, to the
/// provider's base URL (or, with `hosts`, only to those entries of `proxy.allowed_hosts`).
/// Patterns stay text on the wire so a bad one is refused with its rule by
/// [`crate::proxy::ProxyConfig::check`] rather than as a generic JSON error; [`Self::compile`]
/// parses them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProxyRule {
    pub scope: String,
    pub allow: Vec<String>,
    /// Entries of `proxy.allowed_hosts` this rule applies to; empty: the base URL's host only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
}

/// A rule with its patterns parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub scope: String,
    pub allow: Vec<RoutePattern>,
    pub hosts: Vec<String>,
}

impl ProxyRule {
    pub fn compile(&self) -> Result<Rule, PatternError> {
        Ok(Rule {
            scope: self.scope.clone(),
            allow: self
                .allow
                .iter()
                .map(|p| RoutePattern::parse(p))
                .collect::<Result<_, _>>()?,
            hosts: self.hosts.clone(),
        })
    }
}

/// Every rule of a provider, parsed (the first bad pattern is the error).
pub fn compile(rules: &[ProxyRule]) -> Result<Vec<Rule>, PatternError> {
    rules.iter().map(ProxyRule::compile).collect()
}

/// One proxied call as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyCall {
    pub method: String,
    /// The `Nexus-Proxy-Host` the caller chose (lower-case); `None`: the base URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The normalised path's segments relative to the base path, percent-decoded once.
    pub path: Vec<String>,
}

/// No rule of a held scope allows the call. `needed` are the scopes whose rules would have
/// (empty when no rule matches the call at all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub needed: Vec<String>,
}

/// The first rule of a scope in `held` that allows `call`: its scope and the matching pattern.
/// Holding more scopes never removes an allowance; nothing outside the rules is ever allowed.
pub fn authorize<'r>(
    rules: &'r [Rule],
    held: &[String],
    call: &ProxyCall,
) -> Result<(&'r str, &'r RoutePattern), Denied> {
    let mut needed: Vec<String> = Vec::new();
    for rule in rules {
        let Some(pattern) = rule.allowing(call) else {
            continue;
        };
        if held.contains(&rule.scope) {
            return Ok((&rule.scope, pattern));
        }
        if !needed.contains(&rule.scope) {
            needed.push(rule.scope.clone());
        }
    }
    Err(Denied { needed })
}

impl Rule {
    /// The first pattern of this rule that matches `call` (host included).
    pub fn allowing(&self, call: &ProxyCall) -> Option<&RoutePattern> {
        let host_ok = match &call.host {
            None => self.hosts.is_empty(),
            Some(host) => self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)),
        };
        if !host_ok {
            return None;
        }
        self.allow
            .iter()
            .find(|p| p.matches(&call.method, &call.path))
    }
}

/// Why a pattern is refused (the words name the rule broken; the pattern is the caller's own).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("`{0}`: a pattern is `METHODS /path` (for example `GET /contacts/**`)")]
    Shape(String),
    #[error("`{0}`: methods are `*` or upper-case names separated by commas")]
    Method(String),
    #[error("`{0}`: the path must start with `/`")]
    NotAbsolute(String),
    #[error("`{0}`: `*` and `**` must be whole segments (no `v*`)")]
    PartialGlob(String),
    #[error("`{0}`: at most {MAX_DOUBLE_GLOBS} `**` per pattern")]
    TooManyDoubleGlobs(String),
    #[error("`{0}`: at most {MAX_SEGMENTS} segments")]
    TooManySegments(String),
    #[error(
        "`{0}`: a literal segment is plain text (no `%`, `?`, `#`, `\\`, control characters, `.` or `..`) and not empty"
    )]
    Literal(String),
}

/// A parsed `METHODS /path` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePattern {
    text: String,
    /// `None`: any method.
    methods: Option<Vec<String>>,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    One,
    Any,
}

impl RoutePattern {
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        let owned = || text.to_owned();
        let (methods, path) = text
            .trim()
            .split_once(' ')
            .ok_or_else(|| PatternError::Shape(owned()))?;
        let path = path.trim();
        if path.contains(char::is_whitespace) {
            return Err(PatternError::Shape(owned()));
        }
        let methods = match methods {
            "*" => None,
            list => {
                let names: Vec<String> = list.split(',').map(str::to_owned).collect();
                let upper = |m: &String| !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase());
                if !names.iter().all(upper) {
                    return Err(PatternError::Method(owned()));
                }
                Some(names)
            }
        };
        let rest = path
            .strip_prefix('/')
            .ok_or_else(|| PatternError::NotAbsolute(owned()))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let mut segments = Vec::new();
        if !rest.is_empty() {
            for piece in rest.split('/') {
                segments.push(match piece {
                    "*" => Segment::One,
                    "**" => Segment::Any,
                    p if p.contains('*') => return Err(PatternError::PartialGlob(owned())),
                    p if !is_literal(p) => return Err(PatternError::Literal(owned())),
                    p => Segment::Literal(p.to_owned()),
                });
            }
        }
        if segments.len() > MAX_SEGMENTS {
            return Err(PatternError::TooManySegments(owned()));
        }
        if segments.iter().filter(|s| **s == Segment::Any).count() > MAX_DOUBLE_GLOBS {
            return Err(PatternError::TooManyDoubleGlobs(owned()));
        }
        Ok(Self {
            text: text.trim().to_owned(),
            methods,
            segments,
        })
    }

    /// Does this pattern allow `method` on `path` (decoded segments; a trailing empty one is
    /// ignored)?
    pub fn matches(&self, method: &str, path: &[String]) -> bool {
        let method_ok = self
            .methods
            .as_ref()
            .is_none_or(|list| list.iter().any(|m| m == method));
        let path = match path.split_last() {
            Some((last, rest)) if last.is_empty() => rest,
            _ => path,
        };
        method_ok && segments_match(&self.segments, path)
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

fn is_literal(piece: &str) -> bool {
    !piece.is_empty()
        && piece != "."
        && piece != ".."
        && !piece
            .chars()
            .any(|c| c.is_control() || matches!(c, '%' | '?' | '#' | '\\'))
}

/// Glob matching over segments, `**` as the star: the classic single-backtrack algorithm,
/// O(pattern × path) whatever the input (a long path cannot make matching explode).
fn segments_match(pattern: &[Segment], path: &[String]) -> bool {
    let (mut p, mut s) = (0, 0);
    // The last `**` seen and the path position it currently swallows up to.
    let mut star: Option<(usize, usize)> = None;
    while s < path.len() {
        match pattern.get(p) {
            Some(Segment::Any) => {
                star = Some((p, s));
                p += 1;
            }
            Some(segment) if segment.accepts(&path[s]) => {
                p += 1;
                s += 1;
            }
            _ => match star {
                Some((star_p, star_s)) => {
                    star = Some((star_p, star_s + 1));
                    p = star_p + 1;
                    s = star_s + 1;
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|segment| *segment == Segment::Any)
}

impl Segment {
    fn accepts(&self, segment: &str) -> bool {
        match self {
            Self::Literal(text) => text == segment,
            Self::One => !segment.is_empty(),
            Self::Any => true,
        }
    }
}

impl fmt::Display for RoutePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
#[path = "proxy_rules_tests.rs"]
mod tests;
