//! The document shell and escaping. Every dynamic value goes through [`Esc`] (its `Display`
//! escapes `& < > " '`), so a provider name or user id like `<img onerror=…>` renders as text.

use super::assets;
use axum::http::StatusCode;
use axum::response::Response;
use std::fmt;

/// Text to interpolate into HTML: displays escaped.
pub struct Esc<'a>(pub &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '&' => f.write_str("&amp;")?,
                '<' => f.write_str("&lt;")?,
                '>' => f.write_str("&gt;")?,
                '"' => f.write_str("&quot;")?,
                '\'' => f.write_str("&#39;")?,
                c => write!(f, "{c}")?,
            }
        }
        Ok(())
    }
}

/// A whole page: one `<h1>`, the stylesheet and script of [`assets`], `main` landmark.
pub fn document(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Nexus</title>\
         <link rel=\"stylesheet\" href=\"{css}\"><script src=\"{js}\" defer></script></head>\
         <body><main><h1>{title}</h1>\n{body}\n</main></body></html>\n",
        title = Esc(title),
        css = assets::css_path(),
        js = assets::js_path(),
    )
}

/// A page that moves on to `next` (a same-site path) at once: after a sign-in that came back
/// from an identity provider (a cross-site navigation), this makes the next request same-site,
/// so the `SameSite=Strict` console cookie is sent with it (design 18 §3).
pub fn document_then(title: &str, body: &str, next: &str) -> String {
    document(title, body).replacen(
        "<meta charset=\"utf-8\">",
        &format!(
            "<meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"0;url={}\">",
            Esc(next)
        ),
        1,
    )
}

/// An outcome banner (`role=status`, announced by screen readers). `ok` picks the icon and
/// class; the text says the outcome too, so colour is never the only signal.
pub fn banner(ok: bool, text: &str) -> String {
    let (class, icon) = if ok { ("ok", "✓") } else { ("bad", "✗") };
    format!(
        "<p class=\"banner {class}\" role=\"status\"><span aria-hidden=\"true\">{icon}</span> {}</p>",
        Esc(text)
    )
}

/// A page that only says what went wrong (and what to do).
pub fn message_page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!("<p>{}</p>", Esc(message));
    super::security::html_response(status, document(title, &body), &[])
}

/// A hidden CSRF field for a form.
pub fn csrf_input(token: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
        super::security::CSRF_FIELD,
        Esc(token)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_values_is_rendered_as_text() {
        let out = format!("{}", Esc("<img src=x onerror='alert(1)'>&\""));
        assert_eq!(
            out,
            "&lt;img src=x onerror=&#39;alert(1)&#39;&gt;&amp;&quot;"
        );
        assert!(document("<b>", "").contains("<h1>&lt;b&gt;</h1>"));
    }
}
