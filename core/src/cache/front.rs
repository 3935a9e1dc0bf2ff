//! A small per-thread front for the token cache, so that hits take no shared lock and write no
//! shared memory.
//!
//! Why: a hit through the shared map writes two cache lines every core touches (the read lock's
//! reader count and the token's `Arc` reference count); two threads hitting at once bounce them
//! between cores (≈ 3× slower per hit, see `BENCHMARKS.md`). Each thread keeps here its own copy
//! of the tokens it recently used (its own `Arc`, so its own reference count), tagged with the
//! cache's write epoch. Any write to the cache bumps the epoch, which makes every thread's copies
//! stale at once; a stale or missing copy falls back to the shared map.

use crate::token::CachedToken;
use std::cell::RefCell;
use std::sync::Arc;

/// Tokens remembered per thread; beyond this, slots are reused round-robin.
const CAPACITY: usize = 16;

struct Slot {
    cache_id: u64,
    epoch: u64,
    workspace_id: Box<str>,
    provider: Box<str>,
    token: Arc<CachedToken>,
}

#[derive(Default)]
struct Front {
    slots: Vec<Slot>,
    next_victim: usize,
}

thread_local! {
    static FRONT: RefCell<Front> = RefCell::new(Front::default());
}

/// This thread's copy for the key, if it was taken at `epoch`. A copy from an older epoch is
/// dropped on the way (it may be a token the cache has since invalidated).
pub(super) fn lookup(
    cache_id: u64,
    epoch: u64,
    workspace_id: &str,
    provider: &str,
) -> Option<Arc<CachedToken>> {
    FRONT
        .try_with(|front| {
            let mut front = front.try_borrow_mut().ok()?;
            let index = front.slots.iter().position(|s| {
                s.cache_id == cache_id
                    && &*s.workspace_id == workspace_id
                    && &*s.provider == provider
            })?;
            if front.slots[index].epoch == epoch {
                Some(front.slots[index].token.clone())
            } else {
                front.slots.swap_remove(index);
                None
            }
        })
        .ok()
        .flatten()
}

/// Remember this thread's copy of a token read at `epoch`.
pub(super) fn remember(
    cache_id: u64,
    epoch: u64,
    workspace_id: &str,
    provider: &str,
    token: Arc<CachedToken>,
) {
    let _ = FRONT.try_with(|front| {
        let Ok(mut front) = front.try_borrow_mut() else {
            return;
        };
        let slot = Slot {
            cache_id,
            epoch,
            workspace_id: workspace_id.into(),
            provider: provider.into(),
            token,
        };
        let existing = front.slots.iter().position(|s| {
            s.cache_id == cache_id && &*s.workspace_id == workspace_id && &*s.provider == provider
        });
        match existing {
            Some(index) => front.slots[index] = slot,
            None if front.slots.len() < CAPACITY => front.slots.push(slot),
            None => {
                let victim = front.next_victim % CAPACITY;
                front.slots[victim] = slot;
                front.next_victim = victim + 1;
            }
        }
    });
}
