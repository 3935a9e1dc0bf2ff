//! The scope algebra of agent sessions (`nexus_vault::identity::scopes`): the existing
//! behaviour as examples, and the rule as properties over any input — an agent never gets a
//! scope outside `agent ∩ requested` at mint, nor a provider scope outside
//! `agent ∩ requested ∩ connection` at resolve.

use nexus_protocol::Scope;
use nexus_vault::identity::scopes::{Grant, ProviderScopes, dedup, grant, narrow, provider_scopes};
use proptest::prelude::*;

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

// ---- examples: today's behaviour ------------------------------------------------------------

#[test]
fn no_scope_requested_grants_all_of_the_agents() {
    assert_eq!(
        grant(&s(&["a", "b"]), &[], None),
        Grant::Granted(s(&["a", "b"]))
    );
}

#[test]
fn a_requested_scope_outside_the_agent_is_refused_and_named() {
    assert_eq!(
        grant(&s(&["a"]), &s(&["a", "x", "y"]), None),
        Grant::OutsideAgent(s(&["x", "y"]))
    );
}

#[test]
fn repeated_requested_scopes_are_granted_once() {
    assert_eq!(
        grant(&s(&["a", "b"]), &s(&["b", "a", "b"]), None),
        Grant::Granted(s(&["b", "a"]))
    );
}

#[test]
fn acting_for_a_user_an_explicit_request_needs_every_scope_from_the_user() {
    let user = s(&["a"]);
    assert_eq!(
        grant(&s(&["a", "b"]), &s(&["a", "b"]), Some(&user)),
        Grant::UserLacks(s(&["b"]))
    );
    assert_eq!(
        grant(&s(&["a", "b"]), &s(&["a"]), Some(&user)),
        Grant::Granted(s(&["a"]))
    );
}

#[test]
fn acting_for_a_user_an_implicit_request_is_cut_down_to_what_the_user_holds() {
    let user = s(&["b", "z"]);
    assert_eq!(
        grant(&s(&["a", "b"]), &[], Some(&user)),
        Grant::Granted(s(&["b"]))
    );
    assert_eq!(
        grant(&s(&["a"]), &[], Some(&s(&["z"]))),
        Grant::UserLacks(s(&["a"]))
    );
}

#[test]
fn provider_scope_forms() {
    assert_eq!(
        provider_scopes(&s(&["provider:gh", "provider:gh:repo"]), "gh"),
        Some(ProviderScopes::All)
    );
    assert_eq!(
        provider_scopes(&s(&["provider:gh:repo", "provider:gh:user"]), "gh"),
        Some(ProviderScopes::Only(
            ["repo", "user"].iter().map(|x| x.to_string()).collect()
        ))
    );
    assert_eq!(provider_scopes(&s(&["provider:github"]), "gh"), None);
    assert_eq!(provider_scopes(&[], "gh"), None);
}

#[test]
fn narrowing_keeps_the_connections_order_and_only_named_scopes() {
    let only = provider_scopes(&s(&["provider:gh:user", "provider:gh:repo"]), "gh").unwrap();
    assert_eq!(
        narrow(s(&["repo", "gist", "user"]), &only),
        s(&["repo", "user"])
    );
    assert_eq!(
        narrow(s(&["repo", "gist"]), &ProviderScopes::All),
        s(&["repo", "gist"])
    );
}

#[test]
fn scope_syntax() {
    assert!(Scope::is_valid("crm:contacts:read"));
    assert!(!Scope::is_valid(""));
    assert!(!Scope::is_valid("two words"));
    assert!(!Scope::is_valid(&"x".repeat(201)));
    assert_eq!(dedup(&s(&["a", "b", "a"])), s(&["a", "b"]));
}

// ---- properties -------------------------------------------------------------------------------

/// Scopes drawn from a small alphabet so that sets overlap often, including provider scopes of
/// two providers, whole-provider scopes and plain ones.
fn scope() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-c]".prop_map(|x| format!("provider:gh:{x}")),
        "[a-c]".prop_map(|x| format!("provider:gl:{x}")),
        Just("provider:gh".to_owned()),
        "[a-c]".prop_map(|x| format!("crm:{x}")),
    ]
}

fn scopes() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(scope(), 0..6)
}

/// An agent's declared scopes: never repeated (`create_agent` removes repeats).
fn agent_scopes() -> impl Strategy<Value = Vec<String>> {
    scopes().prop_map(|v| dedup(&v))
}

fn provider_scope_set() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec("[a-d]", 0..5)
}

/// Is `connection_scope` of `provider` allowed by `held` (whole provider, or named)?
fn allows(held: &[String], provider: &str, connection_scope: &str) -> bool {
    held.iter().any(|h| {
        h == &format!("provider:{provider}")
            || h == &format!("provider:{provider}:{connection_scope}")
    })
}

proptest! {
    #[test]
    fn a_grant_is_within_the_agent_the_request_and_the_user(
        agent in agent_scopes(),
        requested in scopes(),
        user in prop::option::of(scopes()),
    ) {
        if let Grant::Granted(granted) = grant(&agent, &requested, user.as_deref()) {
            for g in &granted {
                prop_assert!(agent.contains(g));
                prop_assert!(requested.is_empty() || requested.contains(g));
                if let Some(u) = &user {
                    prop_assert!(u.contains(g));
                }
            }
            prop_assert_eq!(dedup(&granted), granted.clone());
        }
    }

    #[test]
    fn a_refusal_names_only_scopes_that_are_missing(
        agent in agent_scopes(),
        requested in scopes(),
        user in prop::option::of(scopes()),
    ) {
        match grant(&agent, &requested, user.as_deref()) {
            Grant::OutsideAgent(outside) => {
                prop_assert!(!outside.is_empty());
                for o in &outside {
                    prop_assert!(!agent.contains(o) && requested.contains(o));
                }
            }
            Grant::UserLacks(lacking) => {
                let u = user.as_ref().expect("only a user can lack a scope");
                for l in &lacking {
                    prop_assert!(!u.contains(l));
                }
            }
            Grant::Granted(_) => {}
        }
    }

    #[test]
    fn a_resolve_never_hands_out_a_scope_outside_agent_request_and_connection(
        agent in agent_scopes(),
        requested in scopes(),
        user in prop::option::of(scopes()),
        connection in provider_scope_set(),
    ) {
        let Grant::Granted(session) = grant(&agent, &requested, user.as_deref()) else {
            return Ok(());
        };
        for provider in ["gh", "gl"] {
            let Some(allowed) = provider_scopes(&session, provider) else {
                continue;
            };
            for given in narrow(connection.clone(), &allowed) {
                prop_assert!(connection.contains(&given));
                prop_assert!(allows(&agent, provider, &given));
                prop_assert!(requested.is_empty() || allows(&requested, provider, &given));
                prop_assert!(allows(&session, provider, &given));
            }
        }
    }

    #[test]
    fn a_session_without_the_provider_gets_nothing_of_it(
        session in scopes(),
        connection in provider_scope_set(),
    ) {
        let covered = session.iter().any(|s| s == "provider:gl" || s.starts_with("provider:gl:"));
        prop_assert_eq!(provider_scopes(&session, "gl").is_some(), covered);
        if let Some(allowed) = provider_scopes(&session, "gh") {
            let given = narrow(connection.clone(), &allowed);
            prop_assert!(given.iter().all(|g| connection.contains(g)));
        }
    }
}
