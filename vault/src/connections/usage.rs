//! Recording who uses a connection (`connection_usage`, shown on the console) without turning
//! every resolve into a database write: each process writes a (connection, principal) pair at
//! most once per [`COALESCE_MS`]. So "last used" is precise to a minute, per process.

use crate::store::{Store, now_ms};
use parking_lot::Mutex;
use std::collections::HashMap;

/// At most one write per (connection, principal) and process in this window.
pub const COALESCE_MS: i64 = 60_000;
/// Pairs remembered before the memory is cleared (a clear costs one extra write per pair).
const REMEMBERED: usize = 10_000;

#[derive(Default)]
pub(crate) struct UsageRecorder {
    written: Mutex<HashMap<(String, String), i64>>,
}

impl UsageRecorder {
    /// `principal` resolved connection `id` just now. Failures are logged: usage is a hint for
    /// operators, never a reason to fail a resolve.
    pub(crate) async fn touch(&self, store: &Store, workspace_id: &str, id: &str, principal: &str) {
        let now = now_ms();
        {
            let mut written = self.written.lock();
            let key = (id.to_owned(), principal.to_owned());
            if written.get(&key).is_some_and(|at| now - at < COALESCE_MS) {
                return;
            }
            if written.len() >= REMEMBERED {
                written.clear();
            }
            written.insert(key, now);
        }
        if let Err(e) = store.touch_usage(workspace_id, id, principal, now).await {
            tracing::warn!(connection = %id, error = %e, "recording connection usage failed");
        }
    }
}
