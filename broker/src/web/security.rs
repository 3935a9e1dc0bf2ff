//! Browser security shared by every server-rendered page (connect page, console, and later the
//! authorization server's consent pages): response headers, cookies, CSRF tokens and the
//! same-origin check. Nothing here knows a route.
//!
//! - Headers: a strict CSP with no inline script or style (`script-src 'self'`), no framing
//!   (`frame-ancestors 'none'` + `X-Frame-Options: DENY`), `no-referrer`, `no-store`.
//! - Cookies: `HttpOnly`, `SameSite`, `Path=/`; on an https public URL also `Secure` and the
//!   `__Host-` prefix. Plain http is only for loopback development (see [`CookiePolicy`]).
//! - CSRF: a hidden `_csrf` field = b64url(HMAC-SHA256(key, "csrf:v1:" ‖ session hash)),
//!   recomputable (nothing stored), compared in constant time; plus an `Origin` (or
//!   `Sec-Fetch-Site`) check, which alone guards forms that have no session yet.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The hidden form field that carries the CSRF token.
pub const CSRF_FIELD: &str = "_csrf";

/// `Content-Security-Policy` of every page. `form_action` adds origins a form may post to
/// (Chromium applies `form-action` to the redirect after a POST, so a form whose answer
/// redirects to a provider must name the provider's origin).
pub fn content_security_policy(form_action: &[String]) -> String {
    let mut targets = String::from("'self'");
    for origin in form_action {
        targets.push(' ');
        targets.push_str(origin);
    }
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         form-action {targets}; frame-ancestors 'none'; base-uri 'none'"
    )
}

/// An HTML answer with the security headers.
pub fn html_response(status: StatusCode, document: String, form_action: &[String]) -> Response {
    let mut response = (status, axum::response::Html(document)).into_response();
    set_page_headers(response.headers_mut(), form_action);
    response
}

/// The headers every page (and every redirect from a page route) carries.
pub fn set_page_headers(h: &mut HeaderMap, form_action: &[String]) {
    if let Ok(csp) = HeaderValue::from_str(&content_security_policy(form_action)) {
        h.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
}

/// A `303 See Other` (the answer to a form POST) with the page headers.
pub fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    set_page_headers(response.headers_mut(), &[]);
    response
}

/// `response` with one more `Set-Cookie` header (a value from [`CookiePolicy::set`] / `clear`).
pub fn with_cookie(mut response: Response, set_cookie: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(set_cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// The origin (`scheme://host[:port]`) of a URL, as browsers send it in `Origin`.
pub fn origin_of(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    match u.origin() {
        url::Origin::Tuple(..) => Some(u.origin().ascii_serialization()),
        url::Origin::Opaque(_) => None,
    }
}

/// How cookies are written: secure (https public URL) or loopback development (http).
#[derive(Debug, Clone)]
pub struct CookiePolicy {
    secure: bool,
}

impl CookiePolicy {
    /// `Secure` + `__Host-` for https; plain for http (loopback development only: the broker's
    /// start-up refuses other http public URLs for browser pages, see [`CookiePolicy::check`]).
    pub fn for_public_url(public_url: &str) -> Self {
        Self {
            secure: public_url.starts_with("https://"),
        }
    }

    /// Is `public_url` fit for browser sessions? https anywhere, http only on loopback.
    pub fn check(public_url: &str) -> Result<(), String> {
        let Ok(u) = url::Url::parse(public_url) else {
            return Err("the public URL does not parse".into());
        };
        let loopback = matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        match u.scheme() {
            "https" => Ok(()),
            "http" if loopback => Ok(()),
            _ => Err("browser pages need an https public URL (http only on loopback)".into()),
        }
    }

    /// The cookie's name (`__Host-` prefixed when secure).
    pub fn name(&self, base: &str) -> String {
        if self.secure {
            format!("__Host-{base}")
        } else {
            base.to_owned()
        }
    }

    /// `Set-Cookie` value for `base` = `value` (`same_site`: `Lax` or `Strict`).
    pub fn set(&self, base: &str, value: &str, same_site: &str, max_age_secs: i64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{}={value}; Path=/; HttpOnly; SameSite={same_site}; Max-Age={max_age_secs}{secure}",
            self.name(base)
        )
    }

    /// `Set-Cookie` value that deletes `base`.
    pub fn clear(&self, base: &str, same_site: &str) -> String {
        self.set(base, "", same_site, 0)
    }

    /// The value of cookie `base` in the request, if present.
    pub fn read<'a>(&self, headers: &'a HeaderMap, base: &str) -> Option<&'a str> {
        let name = self.name(base);
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }
}

/// The CSRF token of a session (by its id hash).
pub fn csrf_token(key: &[u8; 32], session_hash: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(b"csrf:v1:");
    mac.update(session_hash.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// Does `presented` equal the session's token? (constant time)
pub fn csrf_matches(key: &[u8; 32], session_hash: &str, presented: &str) -> bool {
    let expected = csrf_token(key, session_hash);
    expected.as_bytes().ct_eq(presented.as_bytes()).into()
}

/// Did the request come from a page of `public_origin`? `Origin` must equal it; without a
/// usable `Origin`, `Sec-Fetch-Site` must say `same-origin`. Neither: refused.
///
/// `Origin: null` is what Chromium sends for a form POST from a page served with
/// `Referrer-Policy: no-referrer` (ours), so it defers to `Sec-Fetch-Site`, which no page can
/// set (a forbidden header) and which says `cross-site` for a sandboxed or foreign page.
pub fn same_origin(headers: &HeaderMap, public_origin: &str) -> bool {
    if let Some(origin) = headers.get(header::ORIGIN)
        && origin.as_bytes() != b"null"
    {
        return origin.to_str().is_ok_and(|o| o == public_origin);
    }
    headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "same-origin")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_bind_to_the_session() {
        let key = [7u8; 32];
        let t = csrf_token(&key, "abc");
        assert!(csrf_matches(&key, "abc", &t));
        assert!(!csrf_matches(&key, "abd", &t));
        assert!(!csrf_matches(&[8u8; 32], "abc", &t));
        assert!(!csrf_matches(&key, "abc", ""));
    }

    #[test]
    fn origin_check_needs_the_exact_origin_or_same_origin_fetch() {
        let mut h = HeaderMap::new();
        assert!(!same_origin(&h, "http://127.0.0.1:8081"));
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(same_origin(&h, "http://127.0.0.1:8081"));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(same_origin(&h, "http://127.0.0.1:8081"));
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!same_origin(&h, "http://127.0.0.1:8081"));
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://localhost:8081"),
        );
        assert!(!same_origin(&h, "http://127.0.0.1:8081"));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8081"),
        );
        assert!(same_origin(&h, "http://127.0.0.1:8081"));
    }

    #[test]
    fn cookies_are_host_prefixed_and_secure_on_https_only() {
        let secure = CookiePolicy::for_public_url("https://nexus.example.com");
        let v = secure.set("nexus_connect", "x", "Lax", 60);
        assert!(v.starts_with("__Host-nexus_connect=x; Path=/; HttpOnly; SameSite=Lax"));
        assert!(v.ends_with("; Secure"));
        let dev = CookiePolicy::for_public_url("http://127.0.0.1:1");
        assert!(!dev.set("nexus_connect", "x", "Lax", 60).contains("Secure"));
        assert!(CookiePolicy::check("http://example.com").is_err());
        assert!(CookiePolicy::check("http://127.0.0.1:9").is_ok());
    }

    #[test]
    fn the_policy_forbids_inline_script_and_framing() {
        let csp = content_security_policy(&["https://github.com".into()]);
        assert!(csp.contains("script-src 'self';"));
        assert!(!csp.contains("unsafe-inline"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(csp.contains("form-action 'self' https://github.com;"));
    }
}
