//! Printing results: tables and lines for people, `--json` for scripts. Results go to stdout;
//! notes and progress go to stderr, so `x=$(nexus …)` captures only the result.

use serde_json::Value;
use std::io::{ErrorKind, Write};

/// `println!` for results: a closed stdout (`nexus … | head -1`) ends the command quietly
/// instead of panicking, and any other write failure is a clear error.
macro_rules! outln {
    ($($arg:tt)*) => { $crate::output::write_line(format_args!($($arg)*)) };
}
pub(crate) use outln;

pub fn write_line(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        if e.kind() == ErrorKind::BrokenPipe {
            // The reader has what it wanted.
            std::process::exit(crate::error::EXIT_OK);
        }
        eprintln!("nexus: error: cannot write to stdout: {e}");
        std::process::exit(crate::error::EXIT_RUNTIME);
    }
}

/// Pretty JSON on stdout.
pub fn print_json(value: &Value) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => outln!("{text}"),
        Err(_) => outln!("{value}"),
    }
}

/// A field of a JSON object as display text ("-" when missing or null).
pub fn field(row: &Value, name: &str) -> String {
    match row.get(name) {
        None | Some(Value::Null) => "-".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => {
            let parts: Vec<String> = items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string())
                })
                .collect();
            if parts.is_empty() {
                "-".to_owned()
            } else {
                parts.join(",")
            }
        }
        Some(other) => other.to_string(),
    }
}

/// The list inside a response: the response itself when it is an array, else the first array
/// found under one of `keys` (servers sometimes wrap lists: `{"providers": […]}`).
pub fn rows<'a>(value: &'a Value, keys: &[&str]) -> &'a [Value] {
    if let Some(items) = value.as_array() {
        return items;
    }
    keys.iter()
        .find_map(|k| value.get(*k)?.as_array())
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// An aligned text table on stdout. `columns` are (header, field name) pairs.
pub fn print_table(rows: &[Value], columns: &[(&str, &str)]) {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| columns.iter().map(|(_, f)| field(row, f)).collect())
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, (header, _))| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([header.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |values: Vec<&str>| {
        let padded: Vec<String> = values
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect();
        outln!("{}", padded.join("  ").trim_end());
    };
    line(columns.iter().map(|(h, _)| *h).collect());
    for row in &cells {
        line(row.iter().map(String::as_str).collect());
    }
}

/// A secret shown safely: its first 4 characters and its length (`gho_…(40 chars)`). Short
/// values are fully hidden, since 4 characters of an 8-character secret is half of it.
pub fn mask(secret: &str) -> String {
    let len = secret.chars().count();
    if len < 16 {
        return format!("…({len} chars)");
    }
    let head: String = secret.chars().take(4).collect();
    format!("{head}…({len} chars)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mask_never_shows_most_of_a_secret() {
        assert_eq!(mask("gho_0123456789abcdefghij"), "gho_…(24 chars)");
        assert_eq!(mask("short"), "…(5 chars)");
        assert!(!mask("abcdefgh12345678XYZ").contains("XYZ"));
    }

    #[test]
    fn rows_finds_wrapped_lists() {
        let wrapped = json!({"providers": [{"name": "a"}]});
        assert_eq!(rows(&wrapped, &["providers"]).len(), 1);
        let bare = json!([{"name": "a"}, {"name": "b"}]);
        assert_eq!(rows(&bare, &[]).len(), 2);
        assert!(rows(&json!({"x": 1}), &["providers"]).is_empty());
    }

    #[test]
    fn fields_render_lists_and_missing_values() {
        let row = json!({"scopes": ["repo", "user"], "n": 3, "none": null});
        assert_eq!(field(&row, "scopes"), "repo,user");
        assert_eq!(field(&row, "n"), "3");
        assert_eq!(field(&row, "none"), "-");
        assert_eq!(field(&row, "absent"), "-");
    }
}
