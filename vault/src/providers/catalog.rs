//! The built-in catalog (`broker/catalog/providers.yaml`), compiled into the binary.

use super::ProviderInput;
use std::collections::BTreeMap;
use std::sync::LazyLock;

const CATALOG_YAML: &str = include_str!("../../catalog/providers.yaml");

static CATALOG: LazyLock<BTreeMap<String, ProviderInput>> = LazyLock::new(|| {
    // The file is part of the source tree and a unit test parses every entry, so a failure here
    // is a build defect; it is logged and leaves the catalog empty rather than aborting.
    match serde_yaml_ng::from_str::<BTreeMap<String, ProviderInput>>(&with_names(CATALOG_YAML)) {
        Ok(map) => map,
        Err(e) => {
            tracing::error!(error = %e, "built-in provider catalog does not parse");
            BTreeMap::new()
        }
    }
});

/// Entries are keyed by name in the file; `ProviderInput` needs a `name`, so add it. Working on
/// the parsed tree keeps the file free of repetition.
fn with_names(yaml: &str) -> String {
    let Ok(serde_yaml_ng::Value::Mapping(map)) =
        serde_yaml_ng::from_str::<serde_yaml_ng::Value>(yaml)
    else {
        return String::new();
    };
    let mut out = serde_yaml_ng::Mapping::new();
    for (key, mut value) in map {
        if let (Some(name), serde_yaml_ng::Value::Mapping(entry)) = (key.as_str(), &mut value) {
            entry.insert("name".into(), name.into());
            entry.insert("auth_type".into(), "oauth2".into());
        }
        out.insert(key, value);
    }
    serde_yaml_ng::to_string(&out).unwrap_or_default()
}

/// The catalog entry `name`, if any (its `name` field is the catalog key).
pub fn lookup(name: &str) -> Option<ProviderInput> {
    CATALOG.get(name).cloned()
}

pub fn names() -> Vec<String> {
    CATALOG.keys().cloned().collect()
}
