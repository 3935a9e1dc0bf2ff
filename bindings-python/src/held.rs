//! This thread's copies of recent cache hits, as the Python objects already handed out, so a
//! hit returns an existing `CachedToken` instead of building one (and takes no lock).
//!
//! Only the core decides: a copy is the core's answer (`NexusClient::peek_to_hold`) and is
//! served again only while `HeldHit::serves` says the core would serve that same token (its
//! deadline, the cache's write epoch, the client's principal version). Nothing here knows an
//! expiry rule.

use crate::cache::CachedToken;
use nexus_sdk::hold::HeldHit;
use nexus_sdk::{NexusClient, TokenCache};
use pyo3::prelude::*;
use pyo3::types::PyString;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Copies kept per thread; beyond this, slots are reused round-robin.
const CAPACITY: usize = 16;

/// Source of the ids that tell clients and caches apart here (an address can be reused).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

struct Slot {
    client_id: u64,
    cache_id: u64,
    /// The key as last passed (compared by identity first: callers usually pass the same
    /// `str` objects) and as text.
    workspace_obj: Py<PyString>,
    provider_obj: Py<PyString>,
    workspace: Box<str>,
    provider: Box<str>,
    hit: HeldHit,
    object: Py<CachedToken>,
}

impl Slot {
    fn is_for(&self, ids: (u64, u64), key: &Key<'_, '_>) -> bool {
        self.client_id == ids.0
            && self.cache_id == ids.1
            && ((self.workspace_obj.as_ptr() == key.workspace_obj.as_ptr()
                && self.provider_obj.as_ptr() == key.provider_obj.as_ptr())
                || (*self.workspace == *key.workspace && *self.provider == *key.provider))
    }
}

/// A (workspace, provider) key as the caller passed it.
pub struct Key<'a, 'py> {
    pub workspace_obj: &'a Bound<'py, PyString>,
    pub provider_obj: &'a Bound<'py, PyString>,
    pub workspace: &'a str,
    pub provider: &'a str,
}

#[derive(Default)]
struct Held {
    slots: Vec<Slot>,
    next_victim: usize,
}

thread_local! {
    static HELD: RefCell<Held> = RefCell::new(Held::default());
}

/// The held object for the key when the core would still serve its token now.
#[inline]
pub fn get(
    py: Python<'_>,
    ids: (u64, u64),
    core: &NexusClient,
    cache: &TokenCache,
    key: &Key<'_, '_>,
) -> Option<Py<CachedToken>> {
    HELD.try_with(|held| {
        let held = held.try_borrow().ok()?;
        let slot = held.slots.iter().find(|s| s.is_for(ids, key))?;
        slot.hit
            .serves(core, cache, Instant::now())
            .then(|| slot.object.clone_ref(py))
    })
    .ok()
    .flatten()
}

/// Keep the core's answer for later hits on this thread; returns the object to hand out (the
/// one already made for the same token when there is one).
pub fn keep(
    py: Python<'_>,
    ids: (u64, u64),
    key: &Key<'_, '_>,
    hit: HeldHit,
) -> PyResult<Py<CachedToken>> {
    let token = hit.token.clone();
    let kept = HELD.try_with(|held| -> PyResult<Option<Py<CachedToken>>> {
        let Ok(mut held) = held.try_borrow_mut() else {
            return Ok(None);
        };
        let existing = held.slots.iter().position(|s| s.is_for(ids, key));
        let object = match existing {
            Some(i) if held.slots[i].hit.token.generation() == hit.token.generation() => {
                held.slots[i].object.clone_ref(py)
            }
            _ => Py::new(py, CachedToken::new(hit.token.clone()))?,
        };
        let slot = Slot {
            client_id: ids.0,
            cache_id: ids.1,
            workspace_obj: key.workspace_obj.clone().unbind(),
            provider_obj: key.provider_obj.clone().unbind(),
            workspace: key.workspace.into(),
            provider: key.provider.into(),
            hit,
            object: object.clone_ref(py),
        };
        // Dropping the replaced slot decrements references: fine, the GIL is held.
        match existing {
            Some(i) => held.slots[i] = slot,
            None if held.slots.len() < CAPACITY => held.slots.push(slot),
            None => {
                let victim = held.next_victim % CAPACITY;
                held.slots[victim] = slot;
                held.next_victim = victim + 1;
            }
        }
        Ok(Some(object))
    });
    match kept {
        Ok(Ok(Some(object))) => Ok(object),
        Ok(Err(e)) => Err(e),
        // Thread teardown or re-entry: hand out a new object without keeping it.
        Ok(Ok(None)) | Err(_) => Py::new(py, CachedToken::new(token)),
    }
}
