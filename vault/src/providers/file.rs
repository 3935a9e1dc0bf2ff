//! The declarative providers document (`nexus-providers.yaml` and its JSON equivalent).
//!
//! `${NAME}` (and `${NAME:-default}`) in string values is replaced from the environment after
//! parsing, value by value, so a variable can never inject YAML structure.

use super::ProviderInput;
use serde::Deserialize;
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
}

#[derive(Deserialize)]
struct Document {
    #[serde(default)]
    providers: Vec<ProviderInput>,
}

/// Parse a providers document (YAML or JSON) with `${ENV}` interpolation.
pub fn parse_document(text: &str) -> Result<Vec<ProviderInput>, FileError> {
    parse_with_env(text, &|name| std::env::var(name).ok())
}

pub fn parse_with_env(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<ProviderInput>, FileError> {
    // serde_yaml_ng's messages quote positions and expected tokens, not values of other fields.
    let mut tree: Value =
        serde_yaml_ng::from_str(text).map_err(|e| FileError::Parse(e.to_string()))?;
    interpolate(&mut tree, env)?;
    let doc: Document =
        serde_yaml_ng::from_value(tree).map_err(|e| FileError::Parse(e.to_string()))?;
    let mut seen = std::collections::BTreeSet::new();
    for p in &doc.providers {
        if !seen.insert(p.name.clone()) {
            return Err(FileError::Duplicate(p.name.clone()));
        }
    }
    Ok(doc.providers)
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

fn expand(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, FileError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "GH_SECRET").then(|| "s3cret: [not yaml]".to_owned())
    }

    #[test]
    fn interpolates_values_without_injecting_structure() {
        let doc = "providers:\n  - name: github\n    catalog: github\n    client_id: ${GH_ID:-abc}\n    client_secret: ${GH_SECRET}\n";
        let providers = parse_with_env(doc, &env).unwrap();
        assert_eq!(providers[0].client_id.as_deref(), Some("abc"));
        assert_eq!(
            providers[0].client_secret.as_ref().unwrap().expose(),
            "s3cret: [not yaml]"
        );
    }

    #[test]
    fn errors_are_clear() {
        assert_eq!(
            parse_with_env("providers:\n  - name: x\n    client_id: ${NOPE}\n", &env).err(),
            Some(FileError::MissingEnv("NOPE".into()))
        );
        assert_eq!(
            parse_with_env("providers:\n  - name: x\n    client_id: ${NOPE\n", &env).err(),
            Some(FileError::Unterminated)
        );
        assert!(matches!(
            parse_with_env("providers: 3", &env),
            Err(FileError::Parse(_))
        ));
        assert_eq!(
            parse_with_env("providers:\n  - name: a\n  - name: a\n", &env).err(),
            Some(FileError::Duplicate("a".into()))
        );
        // JSON is YAML.
        assert_eq!(
            parse_with_env(r#"{"providers": [{"name": "j"}]}"#, &env).unwrap()[0].name,
            "j"
        );
    }
}
