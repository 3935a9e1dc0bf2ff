//! PostgreSQL arrays bound as text, for statements that take a column per array (`unnest`).
//!
//! One statement of one shape whatever the number of rows: a multi-row `VALUES` list is a
//! different statement for every row count, and a connection plans each afresh (session 9's
//! audit insert spent ~40 % of its server time planning). sqlx's `Any` driver binds no arrays,
//! so each column is bound as the text form of an array and cast in the statement
//! (`$1::text[]`, `$2::bigint[]`).

/// The text form of a PostgreSQL `text[]` holding `values`: each element double-quoted with
/// `"` and `\` escaped by a backslash (nothing else is special inside quotes), `NULL` bare, so
/// the server reads back exactly the bytes sent.
pub(super) fn text_array<'a>(values: impl Iterator<Item = Option<&'a str>>) -> String {
    let mut out = String::from("{");
    for (i, value) in values.enumerate() {
        if i > 0 {
            out.push(',');
        }
        let Some(value) = value else {
            out.push_str("NULL");
            continue;
        };
        out.push('"');
        let mut rest = value;
        while let Some(at) = rest.find(['"', '\\']) {
            out.push_str(&rest[..at]);
            out.push('\\');
            out.push_str(&rest[at..=at]);
            rest = &rest[at + 1..];
        }
        out.push_str(rest);
        out.push('"');
    }
    out.push('}');
    out
}

/// The text form of a PostgreSQL `bigint[]` holding `values`.
pub(super) fn bigint_array(values: impl Iterator<Item = i64>) -> String {
    let mut out = String::from("{");
    for (i, value) in values.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&value.to_string());
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_are_quoted_with_quotes_and_backslashes_escaped() {
        let values = [
            Some(""),
            Some("plain"),
            Some("a\"b\\c"),
            None,
            Some("NULL"),
            Some(" {x,y} "),
            Some("é😀\n"),
        ];
        assert_eq!(
            text_array(values.into_iter()),
            "{\"\",\"plain\",\"a\\\"b\\\\c\",NULL,\"NULL\",\" {x,y} \",\"é😀\n\"}"
        );
        assert_eq!(text_array(std::iter::empty()), "{}");
    }

    #[test]
    fn integers_are_listed_bare() {
        assert_eq!(
            bigint_array([1, -2, i64::MAX].into_iter()),
            "{1,-2,9223372036854775807}"
        );
        assert_eq!(bigint_array(std::iter::empty()), "{}");
    }
}
