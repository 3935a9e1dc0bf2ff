//! The audit log as a stream of pages, oldest first, for the JSON-lines export (`nexus audit
//! export`): each page is one keyset query of at most [`EXPORT_PAGE`] records, so exporting a
//! table of any size holds one page in memory.

use super::AuditService;
use crate::error::VaultError;
use crate::store::Store;
use crate::store::audit::AuditRecord;
use futures::Stream;

/// Records read per query by the export.
pub const EXPORT_PAGE: i64 = 500;

impl AuditService {
    /// The records of one workspace (or all) with an id above `after_id`, page by page. The
    /// stream ends after the first short page; an error ends it too.
    pub fn export_pages(
        &self,
        workspace_id: Option<String>,
        after_id: i64,
    ) -> impl Stream<Item = Result<Vec<AuditRecord>, VaultError>> + Send + 'static {
        export_pages(self.store.clone(), workspace_id, after_id)
    }
}

/// [`AuditService::export_pages`] on a store (each item is one query's page).
pub fn export_pages(
    store: Store,
    workspace_id: Option<String>,
    after_id: i64,
) -> impl Stream<Item = Result<Vec<AuditRecord>, VaultError>> + Send + 'static {
    futures::stream::try_unfold(Some(after_id), move |after| {
        let store = store.clone();
        let workspace_id = workspace_id.clone();
        async move {
            let Some(after) = after else { return Ok(None) };
            let page = store
                .audit_page(workspace_id.as_deref(), after, EXPORT_PAGE)
                .await?;
            if page.is_empty() {
                return Ok(None);
            }
            let full = page.len() as i64 == EXPORT_PAGE;
            let next = full.then(|| page.last().map_or(after, |r| r.id));
            Ok(Some((page, next)))
        }
    })
}
