//! How deep a YAML or JSON text nests, found in one linear pass before any parser runs.
//!
//! YAML parsers in the libyaml family spend time proportional to the nesting depth on every token
//! (their "simple key" bookkeeping), so a document nested 100,000 levels deep costs seconds of
//! CPU before any depth limit inside the parser is reached. [`exceeds_depth`] reads the text once
//! with a small lexer that follows YAML's rules for what opens a level: flow collections (`[`,
//! `{`) outside quoted scalars, plain scalars and comments; block collections by indentation; and
//! compact block entries (`- - - x`). JSON is YAML, so JSON texts are covered too.

/// Whether `text` nests deeper than `max` levels (flow and block levels together).
pub fn exceeds_depth(text: &str, max: usize) -> bool {
    Lexer::default().run(text.as_bytes(), max)
}

#[derive(Default)]
struct Lexer {
    /// Unclosed flow collections (`[` / `{`).
    flow: usize,
    /// Indentations of the enclosing block lines (block context only).
    indents: Vec<usize>,
    /// Block levels of the current line: enclosing indentations plus compact `- ` / `? ` entries.
    line_depth: usize,
    /// Inside a plain (unquoted) scalar, where quotes, brackets and `#` are ordinary text.
    in_plain: bool,
    /// Lines more indented than this belong to a block scalar (`|` / `>`): plain text.
    block_scalar_indent: Option<usize>,
}

impl Lexer {
    fn run(mut self, b: &[u8], max: usize) -> bool {
        let mut i = 0;
        let mut line_start = true;
        while i < b.len() {
            if line_start {
                line_start = false;
                i = self.start_line(b, i);
                if self.line_depth > max {
                    return true;
                }
                continue;
            }
            let c = b[i];
            match c {
                b'\n' => {
                    line_start = true;
                    i += 1;
                }
                b'#' if i == 0 || matches!(b[i - 1], b' ' | b'\t' | b'\n' | b'\r') => {
                    // A comment runs to the end of the line; it also ends a plain scalar.
                    self.in_plain = false;
                    i = skip_line(b, i);
                }
                b'"' | b'\'' if !self.in_plain => {
                    i = skip_quoted(b, i);
                }
                b'[' | b'{' if self.flow > 0 || !self.in_plain => {
                    self.flow += 1;
                    self.in_plain = false;
                    if self.line_depth + self.flow > max {
                        return true;
                    }
                    i += 1;
                }
                b']' | b'}' if self.flow > 0 => {
                    self.flow -= 1;
                    self.in_plain = false;
                    i += 1;
                }
                b',' if self.flow > 0 => {
                    self.in_plain = false;
                    i += 1;
                }
                b':' if is_value_indicator(b, i, self.flow > 0) => {
                    self.in_plain = false;
                    i += 1;
                }
                b'|' | b'>' if self.flow == 0 && !self.in_plain => {
                    self.block_scalar_indent = Some(self.indents.last().copied().unwrap_or(0));
                    i = skip_line(b, i);
                }
                b'&' | b'!' | b'*' if !self.in_plain => {
                    // Anchor, tag or alias: a property, not the start of a scalar.
                    while i < b.len() && !is_blank_or_flow(b[i]) {
                        i += 1;
                    }
                }
                b' ' | b'\t' | b'\r' => i += 1,
                _ => {
                    self.in_plain = true;
                    i += 1;
                }
            }
        }
        false
    }

    /// Read the indentation and compact entries of a line that starts at `i`; return where its
    /// content starts.
    fn start_line(&mut self, b: &[u8], mut i: usize) -> usize {
        let mut indent = 0;
        while i + indent < b.len() && b[i + indent] == b' ' {
            indent += 1;
        }
        let content = i + indent;
        let blank = content >= b.len() || matches!(b[content], b'\n' | b'#' | b'\r');
        if let Some(scalar_indent) = self.block_scalar_indent {
            if blank || indent > scalar_indent {
                return skip_line(b, i);
            }
            self.block_scalar_indent = None;
        }
        if self.flow > 0 || blank {
            // Flow context ignores indentation; a plain scalar goes on across lines.
            return content;
        }
        // Block context: a more indented line continues a plain scalar, any other starts anew.
        let top = self.indents.last().copied();
        if self.in_plain && top.is_some_and(|t| indent > t) {
            return content;
        }
        self.in_plain = false;
        while self.indents.last().is_some_and(|&t| t > indent) {
            self.indents.pop();
        }
        if self.indents.last() != Some(&indent) {
            self.indents.push(indent);
        }
        self.line_depth = self.indents.len();
        i = content;
        // `- - - x` and `? ? x` open one level per indicator on a single line.
        while i + 1 < b.len() && matches!(b[i], b'-' | b'?') && matches!(b[i + 1], b' ' | b'\t') {
            self.line_depth += 1;
            i += 2;
            while i < b.len() && b[i] == b' ' {
                i += 1;
            }
        }
        i
    }
}

fn skip_line(b: &[u8], i: usize) -> usize {
    b[i..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(b.len(), |p| i + p)
}

/// Skip a quoted scalar starting at `i` (its quote); returns the index after the closing quote.
fn skip_quoted(b: &[u8], i: usize) -> usize {
    let quote = b[i];
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' if quote == b'"' => j += 2,
            // `''` is a quote inside a single-quoted scalar.
            b'\'' if quote == b'\'' && b.get(j + 1) == Some(&b'\'') => j += 2,
            c if c == quote => return j + 1,
            _ => j += 1,
        }
    }
    b.len()
}

/// `:` followed by a blank (or, in flow context, a flow indicator) separates a key from its value.
fn is_value_indicator(b: &[u8], i: usize, in_flow: bool) -> bool {
    match b.get(i + 1) {
        None => true,
        Some(&c) => {
            matches!(c, b' ' | b'\t' | b'\n' | b'\r')
                || (in_flow && matches!(c, b',' | b'[' | b']' | b'{' | b'}'))
        }
    }
}

fn is_blank_or_flow(c: u8) -> bool {
    matches!(
        c,
        b' ' | b'\t' | b'\n' | b'\r' | b',' | b'[' | b']' | b'{' | b'}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_documents_are_shallow() {
        let yaml = "providers:\n  - name: github\n    catalog: github # a comment with [[[\n    scopes: [repo, \"read:user\"]\n    display_name: Bob's [API\n    strategy: {type: header, config: {header_name: X-Key}}\n  - name: \"x[\"\n    description: |\n      [[[[ [[[[ {{{{\n";
        assert!(!exceeds_depth(yaml, 6));
        assert!(exceeds_depth(yaml, 3));
        let json = r#"{"providers": [{"name": "a]]]]", "strategy": {"config": {"k": "{{{{"}}}]}"#;
        // Five flow levels inside the document's top level.
        assert!(!exceeds_depth(json, 6));
        assert!(exceeds_depth(json, 5));
    }

    #[test]
    fn every_kind_of_nesting_counts() {
        let deep = 1000;
        for text in [
            "[".repeat(deep),
            "{a: ".repeat(deep),
            format!("x: {}", "[".repeat(deep)),
            "- ".repeat(deep) + "x",
            "? ".repeat(deep) + "x",
            (0..deep)
                .map(|i| format!("{}k:\n", " ".repeat(i)))
                .collect(),
            format!("a: \"]]]]\"\nb: {}", "[".repeat(deep)),
            format!("a: ']]'' ]]'\nb: {}", "{\"k\": ".repeat(deep)),
        ] {
            assert!(exceeds_depth(&text, 64), "{}", &text[..40.min(text.len())]);
        }
    }

    #[test]
    fn closing_brackets_inside_quotes_do_not_hide_nesting() {
        // Each level carries a quoted `]`; counting it would keep the depth at one.
        let text = "[\"]\", ".repeat(200);
        assert!(exceeds_depth(&text, 64));
        let text = "['x]', ".repeat(200);
        assert!(exceeds_depth(&text, 64));
    }
}
