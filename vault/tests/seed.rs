//! The seeding tool (issue 20), small: 2,000 connections over 20 workspaces load on both
//! databases, each sealed as in production (a resolve by id opens exactly its own token), and
//! every workspace lists the connections it was given.

use nexus_vault::Vault;
use nexus_vault::caller::Caller;
use nexus_vault::seed::{SeedPlan, provider_name, seed, workspace_name};
use nexus_vault::testing::{all_dbs, vault_config};

const CONNECTIONS: usize = 2_000;
const WORKSPACES: usize = 20;

#[tokio::test]
async fn two_thousand_seeded_connections_resolve_as_their_own() {
    for db in all_dbs().await {
        let vault = Vault::start(vault_config(&db.url)).await.expect("vault");
        let plan = SeedPlan {
            workspaces: WORKSPACES,
            connections: CONNECTIONS,
            providers: 3,
            token_url: "http://127.0.0.1:9/token".into(),
        };
        let seeded = seed(&vault, &plan).await.expect("seed");
        assert_eq!(seeded.len(), CONNECTIONS);

        for w in 0..WORKSPACES {
            let listed = vault.connections().list(&workspace_name(w)).await.unwrap();
            assert_eq!(
                listed.len(),
                CONNECTIONS / WORKSPACES,
                "{}: ws {w}",
                db.label
            );
        }
        let caller = Caller::admin(None);
        for j in (0..CONNECTIONS).step_by(97) {
            let s = &seeded[j];
            let ws = workspace_name(s.workspace);
            let token = vault
                .connections()
                .token_by_id(&ws, &s.id, false, &caller)
                .await
                .unwrap_or_else(|e| panic!("{}: connection {j}: {e}", db.label));
            assert_eq!(
                token.access_token.unwrap().expose(),
                format!("seed-access-{j}"),
                "{}",
                db.label
            );
            assert_eq!(
                token.provider.as_deref(),
                Some(provider_name(s.provider).as_str())
            );
            // The same connection read from another workspace is not found (AAD and filter).
            let other = workspace_name((s.workspace + 1) % WORKSPACES);
            assert!(
                vault
                    .connections()
                    .token_by_id(&other, &s.id, false, &caller)
                    .await
                    .is_err()
            );
        }
        let resolved = vault
            .connections()
            .resolve(&workspace_name(0), &provider_name(0), None, false, &caller)
            .await
            .expect("resolve by (workspace, provider)");
        assert!(
            resolved
                .access_token
                .unwrap()
                .expose()
                .starts_with("seed-access-")
        );
        assert!(vault.audit().verify_chain(None).await.unwrap().ok);
    }
}
