//! The pages' stylesheet and script, compiled into the binary and served under names that carry
//! a hash of their content (cacheable for a day: a changed file gets a new name).

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

const CSS: &str = include_str!("assets/nexus.css");
const JS: &str = include_str!("assets/nexus.js");

fn hashed(prefix: &str, body: &str, ext: &str) -> String {
    let digest = hex::encode(&Sha256::digest(body.as_bytes())[..6]);
    format!("{prefix}.{digest}.{ext}")
}

static CSS_PATH: LazyLock<String> = LazyLock::new(|| hashed("/static/nexus", CSS, "css"));
static JS_PATH: LazyLock<String> = LazyLock::new(|| hashed("/static/nexus", JS, "js"));

pub fn css_path() -> &'static str {
    &CSS_PATH
}

pub fn js_path() -> &'static str {
    &JS_PATH
}

/// `GET /static/{file}`.
pub async fn serve(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let path = format!("/static/{file}");
    let (body, kind) = if path == css_path() {
        (CSS, "text/css; charset=utf-8")
    } else if path == js_path() {
        (JS, "text/javascript; charset=utf-8")
    } else {
        return super::layout::message_page(
            axum::http::StatusCode::NOT_FOUND,
            "Not found",
            "There is no such file.",
        );
    };
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400, immutable"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::CSS;

    /// `--name: #rrggbb` of the stylesheet's `:root`.
    fn colour(name: &str) -> [f64; 3] {
        let start = CSS.find(&format!("--{name}:")).expect(name) + name.len() + 3;
        let hex = CSS[start..].trim_start().trim_start_matches('#');
        let c = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).unwrap() as f64 / 255.0;
        [c(0), c(2), c(4)]
    }

    /// WCAG 2.x relative luminance and contrast ratio.
    fn contrast(a: [f64; 3], b: [f64; 3]) -> f64 {
        let lum = |c: [f64; 3]| {
            let l = |v: f64| {
                if v <= 0.03928 {
                    v / 12.92
                } else {
                    ((v + 0.055) / 1.055).powf(2.4)
                }
            };
            0.2126 * l(c[0]) + 0.7152 * l(c[1]) + 0.0722 * l(c[2])
        };
        let (x, y) = (lum(a) + 0.05, lum(b) + 0.05);
        x.max(y) / x.min(y)
    }

    #[test]
    fn text_colours_meet_wcag_aa_on_their_backgrounds() {
        for (fg, bg) in [
            ("fg", "bg"),
            ("muted", "bg"),
            ("link", "bg"),
            ("ok-fg", "ok-bg"),
            ("bad-fg", "bad-bg"),
            ("bg", "link"),
        ] {
            let ratio = contrast(colour(fg), colour(bg));
            assert!(ratio >= 4.5, "--{fg} on --{bg}: {ratio:.2}");
        }
    }
}
