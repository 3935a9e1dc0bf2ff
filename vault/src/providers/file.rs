//! The declarative providers document (`nexus-providers.yaml` and its JSON equivalent).
//!
//! A document that arrives through the admin API is taken literally: `${` is text like any other,
//! so an admin token can never read the broker's own environment (master key, internal token,
//! database URL). `${NAME}` (and `${NAME:-default}`) is expanded only on the operator's side, by
//! [`expand_document`]: the `nexus` CLI runs it over its own environment before sending, and the
//! broker over its environment for its own start-up file (`NEXUS_PROVIDERS_FILE`). Expansion
//! happens after parsing, value by value, so a variable can never inject YAML structure.
//!
//! Error messages name the entry and the field, never a submitted value.

use super::ProviderInput;
use serde_yaml_ng::Value;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FileError {
    #[error("not a providers document: {0}")]
    Parse(String),
    #[error("environment variable `{0}` is not set (referenced as ${{{0}}})")]
    MissingEnv(String),
    #[error("unterminated `${{` in a value")]
    Unterminated,
    #[error("provider `{0}` appears more than once")]
    Duplicate(String),
    #[error("the document nests deeper than {0} levels")]
    TooDeep(usize),
}

/// Deepest nesting a providers document may have. A real one needs about six levels
/// (`providers` → entry → `strategy` → `config` → value); the limit is checked on the text before
/// any parser runs, because YAML parsers spend time quadratic in the depth.
pub const MAX_DOCUMENT_DEPTH: usize = 64;

/// Parse a providers document (YAML or JSON) as it is: no environment is read.
pub fn parse_document(text: &str) -> Result<Vec<ProviderInput>, FileError> {
    let tree = parse_tree(text)?;
    let entries = match tree {
        Value::Null => return Ok(Vec::new()),
        Value::Mapping(mut doc) => match doc.remove("providers") {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Sequence(entries)) => entries,
            Some(_) => return Err(parse_error("`providers` must be a list")),
        },
        _ => {
            return Err(parse_error(
                "the document must be a mapping with `providers`",
            ));
        }
    };
    let mut providers = Vec::with_capacity(entries.len());
    let mut seen = std::collections::BTreeSet::new();
    for (index, entry) in entries.into_iter().enumerate() {
        let provider = entry_input(index, entry)?;
        // A name that is not a valid provider name is refused later without being repeated.
        if nexus_protocol::ProviderName::is_valid(&provider.name)
            && !seen.insert(provider.name.clone())
        {
            return Err(FileError::Duplicate(provider.name));
        }
        providers.push(provider);
    }
    Ok(providers)
}

/// Expand `${NAME}` / `${NAME:-default}` in every string value of a providers document with
/// `env`, and return the document as JSON (what the admin API is then sent). Operator side only.
pub fn expand_document(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, FileError> {
    let mut tree = parse_tree(text)?;
    interpolate(&mut tree, env)?;
    serde_json::to_string(&tree).map_err(|_| parse_error("the document cannot be sent as JSON"))
}

fn parse_tree(text: &str) -> Result<Value, FileError> {
    check_depth(text, MAX_DOCUMENT_DEPTH)?;
    // The syntax errors of serde_yaml_ng name positions and expected tokens, never values.
    serde_yaml_ng::from_str(text).map_err(|e| FileError::Parse(e.to_string()))
}

fn parse_error(reason: &str) -> FileError {
    FileError::Parse(reason.to_owned())
}

/// One entry of `providers`. serde's messages quote the offending value (`invalid type: string
/// "…"`), so the message is rebuilt from the field's name and what was expected.
fn entry_input(index: usize, entry: Value) -> Result<ProviderInput, FileError> {
    let Err(error) = serde_yaml_ng::from_value::<ProviderInput>(entry.clone()) else {
        return serde_yaml_ng::from_value(entry).map_err(|_| parse_error("invalid entry"));
    };
    let field = entry.as_mapping().and_then(|fields| {
        fields.iter().find_map(|(key, value)| {
            let key = key.as_str()?;
            let mut alone = serde_yaml_ng::Mapping::new();
            alone.insert("name".into(), "probe".into());
            alone.insert(key.into(), value.clone());
            serde_yaml_ng::from_value::<ProviderInput>(Value::Mapping(alone))
                .is_err()
                .then(|| key.to_owned())
        })
    });
    Err(FileError::Parse(match field {
        // A key is one of ProviderInput's fields here (unknown keys are ignored): safe to name.
        Some(field) => format!(
            "providers[{index}].{field}: {}",
            expected_part(&error.to_string())
        ),
        None => format!("providers[{index}]: {}", expected_part(&error.to_string())),
    }))
}

/// The part of a serde message that does not depend on the input: `missing field `x`` as is,
/// else what was expected (`expected a boolean`), which comes from the type, not the value.
fn expected_part(message: &str) -> String {
    if message.starts_with("missing field") {
        return message.to_owned();
    }
    match message.rfind(", expected ") {
        Some(at) => format!("wrong type or value, {}", &message[at + 2..]),
        None => "wrong type or value".to_owned(),
    }
}

fn interpolate(value: &mut Value, env: &dyn Fn(&str) -> Option<String>) -> Result<(), FileError> {
    match value {
        Value::String(s) if s.contains("${") => *s = expand(s, env)?,
        Value::Sequence(items) => items.iter_mut().try_for_each(|v| interpolate(v, env))?,
        Value::Mapping(map) => map.iter_mut().try_for_each(|(_, v)| interpolate(v, env))?,
        _ => {}
    }
    Ok(())
}

/// `$${` is a literal `${`.
fn expand(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, FileError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        if rest[..start].ends_with('$') {
            out.push_str(&rest[..start - 1]);
            out.push_str("${");
            rest = &rest[start + 2..];
            continue;
        }
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or(FileError::Unterminated)?;
        let expr = &after[..end];
        let (name, default) = match expr.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (expr, None),
        };
        match (env(name), default) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => return Err(FileError::MissingEnv(name.to_owned())),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Refuse a document nested deeper than `max`, in one linear pass over the text.
fn check_depth(text: &str, max: usize) -> Result<(), FileError> {
    if nexus_protocol::nesting::exceeds_depth(text, max) {
        return Err(FileError::TooDeep(max));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "GH_SECRET").then(|| "s3cret: [not yaml]".to_owned())
    }

    #[test]
    fn the_api_document_is_taken_literally() {
        let doc = "providers:\n  - name: github\n    client_id: ${NEXUS_MASTER_KEY}\n";
        let providers = parse_document(doc).unwrap();
        assert_eq!(
            providers[0].client_id.as_deref(),
            Some("${NEXUS_MASTER_KEY}")
        );
    }

    #[test]
    fn expansion_fills_values_without_injecting_structure() {
        let doc = "providers:\n  - name: github\n    catalog: github\n    client_id: ${GH_ID:-abc}\n    client_secret: ${GH_SECRET}\n    display_name: cost $${HOME}\n";
        let json = expand_document(doc, &env).unwrap();
        let providers = parse_document(&json).unwrap();
        assert_eq!(providers[0].client_id.as_deref(), Some("abc"));
        assert_eq!(
            providers[0].client_secret.as_ref().unwrap().expose(),
            "s3cret: [not yaml]"
        );
        assert_eq!(providers[0].display_name.as_deref(), Some("cost ${HOME}"));
        assert_eq!(
            expand_document("providers:\n  - name: x\n    client_id: ${NOPE}\n", &env).err(),
            Some(FileError::MissingEnv("NOPE".into()))
        );
        assert_eq!(
            expand_document("providers:\n  - name: x\n    client_id: ${NOPE\n", &env).err(),
            Some(FileError::Unterminated)
        );
    }

    #[test]
    fn errors_are_clear() {
        assert!(matches!(
            parse_document("providers: 3"),
            Err(FileError::Parse(_))
        ));
        assert_eq!(
            parse_document("providers:\n  - name: a\n  - name: a\n").err(),
            Some(FileError::Duplicate("a".into()))
        );
        // JSON is YAML.
        assert_eq!(
            parse_document(r#"{"providers": [{"name": "j"}]}"#).unwrap()[0].name,
            "j"
        );
    }

    #[test]
    fn type_errors_name_the_field_not_the_value() {
        for (doc, field) in [
            (
                "providers:\n  - name: x\n    pkce: sekrit-value-1\n",
                "pkce",
            ),
            (
                "providers:\n  - name: x\n    token_endpoint_auth_method: sekrit-value-1\n",
                "token_endpoint_auth_method",
            ),
            (
                "providers:\n  - name: x\n    default_expires_in: sekrit-value-1\n",
                "default_expires_in",
            ),
            ("providers:\n  - name: [sekrit-value-1]\n", "name"),
        ] {
            let message = parse_document(doc).unwrap_err().to_string();
            assert!(!message.contains("sekrit"), "{message}");
            assert!(
                message.contains(&format!("providers[0].{field}")),
                "{message}"
            );
        }
        // A duplicated name that is not a valid name is not repeated either.
        let message = parse_document("providers:\n  - name: Sekrit\n  - name: Sekrit\n");
        assert!(message.is_ok(), "refused later, by name validation");
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        for text in [
            "[".repeat(100_000),
            format!("providers: {}", "[".repeat(100_000)),
            "- ".repeat(100_000),
            format!("{{\"providers\": {}", "{\"a\": ".repeat(100_000)),
        ] {
            assert_eq!(
                parse_document(&text).err(),
                Some(FileError::TooDeep(MAX_DOCUMENT_DEPTH))
            );
        }
    }
}
