//! The scope algebra of agent sessions, as pure functions (no I/O, no clock), so that every
//! rule about which scopes an agent gets is written once and property-tested.
//!
//! - [`grant`]: a mint. The session's scopes are the requested ones (all the agent's when none
//!   are named), all of which the agent must hold and, acting for a user, the user too.
//! - [`provider_scopes`] and [`narrow`]: a session's resolve. `provider:<name>` allows every
//!   scope of the connection; `provider:<name>:<scope>` entries allow those only, intersected
//!   with the connection's.
//!
//! Together: an agent never receives a provider scope outside
//! `agent ∩ requested ∩ connection` (see the property tests in `vault/tests/scopes.rs`).

use nexus_protocol::identity::parse_provider_scope;
use std::collections::BTreeSet;

/// The outcome of a mint's scope check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// The session's scopes, in request order (or the agent's order when none were named).
    Granted(Vec<String>),
    /// These requested scopes are not the agent's.
    OutsideAgent(Vec<String>),
    /// The user the agent acts for lacks these (or, with no scope named, lacks them all).
    UserLacks(Vec<String>),
}

/// The scopes a session gets: `requested` (deduplicated; the agent's `declared` scopes when
/// empty), all within `declared`; acting for a user with `user` permissions, only those the
/// user holds. An explicit request the user cannot fully cover is refused rather than cut
/// down; an implicit one is cut down to what the user holds, and refused if nothing is left.
pub fn grant(declared: &[String], requested: &[String], user: Option<&[String]>) -> Grant {
    let explicit = !requested.is_empty();
    let requested = if explicit {
        dedup(requested)
    } else {
        declared.to_vec()
    };
    let outside: Vec<String> = requested
        .iter()
        .filter(|s| !declared.contains(s))
        .cloned()
        .collect();
    if !outside.is_empty() {
        return Grant::OutsideAgent(outside);
    }
    match user {
        None => Grant::Granted(requested),
        Some(permissions) => {
            let (held, lacking): (Vec<String>, Vec<String>) =
                requested.into_iter().partition(|s| permissions.contains(s));
            if (explicit && !lacking.is_empty()) || held.is_empty() {
                Grant::UserLacks(lacking)
            } else {
                Grant::Granted(held)
            }
        }
    }
}

/// What a session's scopes allow of one provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderScopes {
    /// `provider:<name>`: every scope of the connection.
    All,
    /// `provider:<name>:<scope>` entries.
    Only(BTreeSet<String>),
}

/// What `scopes` allow of `provider`; `None` when they do not cover it at all.
pub fn provider_scopes(scopes: &[String], provider: &str) -> Option<ProviderScopes> {
    let mut only = BTreeSet::new();
    let mut covered = false;
    for scope in scopes {
        match parse_provider_scope(scope) {
            Some((name, None)) if name == provider => return Some(ProviderScopes::All),
            Some((name, Some(s))) if name == provider => {
                covered = true;
                only.insert(s.to_owned());
            }
            _ => {}
        }
    }
    covered.then_some(ProviderScopes::Only(only))
}

/// The connection's scopes a session may see: all of them, or those it names.
pub fn narrow(connection: Vec<String>, allowed: &ProviderScopes) -> Vec<String> {
    match allowed {
        ProviderScopes::All => connection,
        ProviderScopes::Only(set) => connection.into_iter().filter(|s| set.contains(s)).collect(),
    }
}

/// `scopes` without repeats, first occurrence kept.
pub fn dedup(scopes: &[String]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    scopes
        .iter()
        .filter(|s| seen.insert(s.as_str()))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn provider_coverage() {
        assert!(provider_scopes(&s(&["acme:gliding"]), "gh").is_none());
        assert!(matches!(
            provider_scopes(&s(&["provider:gh"]), "gh"),
            Some(ProviderScopes::All)
        ));
        match provider_scopes(&s(&["provider:gh:repo", "provider:other:x"]), "gh") {
            Some(ProviderScopes::Only(set)) => {
                assert_eq!(set.into_iter().collect::<Vec<_>>(), vec!["repo"])
            }
            _ => panic!("expected a narrowed set"),
        }
        assert!(provider_scopes(&s(&["provider:ghx"]), "gh").is_none());
    }
}
