//! The JSON-lines export reads the audit log page by page (issue 14 item 5c): more records than
//! one page come out complete and in order, each query returns at most one page, and the
//! workspace filter and the resume point hold, on both databases.

use futures::TryStreamExt;
use nexus_vault::audit::{EXPORT_PAGE, export_pages};
use nexus_vault::store::audit::AuditEvent;
use nexus_vault::testing::{all_dbs, store_for};

#[tokio::test]
async fn the_export_pages_through_more_records_than_one_page() {
    let total = 2 * EXPORT_PAGE as usize + 7;
    for db in all_dbs().await {
        let store = store_for(&db).await;
        for i in 0..total {
            let ws = if i % 2 == 0 { "even" } else { "odd" };
            let target = i.to_string();
            store
                .audit(AuditEvent {
                    workspace_id: Some(ws),
                    action: "token.issued",
                    target: Some(&target),
                    principal: "api_key:k1",
                    outcome: "ok",
                    request_id: None,
                    detail: None,
                })
                .await;
        }

        let pages: Vec<_> = export_pages(store.clone(), None, 0)
            .try_collect()
            .await
            .unwrap();
        let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
        let page = EXPORT_PAGE as usize;
        assert_eq!(sizes, vec![page, page, 7], "{}", db.label);
        let records: Vec<_> = pages.into_iter().flatten().collect();
        let targets: Vec<String> = records.iter().filter_map(|r| r.target.clone()).collect();
        let expected: Vec<String> = (0..total).map(|i| i.to_string()).collect();
        assert_eq!(
            targets, expected,
            "{}: every record once, oldest first",
            db.label
        );

        // One workspace, resumed after a record in the middle.
        let resume_after = records[page].id;
        let odd: Vec<_> = export_pages(store.clone(), Some("odd".into()), resume_after)
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
            .into_iter()
            .flatten()
            .collect();
        assert!(!odd.is_empty(), "{}", db.label);
        assert!(
            odd.iter()
                .all(|r| r.workspace_id.as_deref() == Some("odd") && r.id > resume_after),
            "{}",
            db.label
        );
        let expected_odd = records
            .iter()
            .filter(|r| r.workspace_id.as_deref() == Some("odd") && r.id > resume_after)
            .count();
        assert_eq!(odd.len(), expected_odd, "{}", db.label);
    }
}
