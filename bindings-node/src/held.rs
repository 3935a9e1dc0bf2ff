//! What `getToken` needs to serve a cache hit without a native call (see `src/client.ts`).
//!
//! A napi call costs more than the whole cache hit, so the TypeScript layer keeps the core's
//! answer: the converted credential, the core's deadline for it and the two versions it depends
//! on (`nexus_sdk::hold`). It reads those versions from shared memory: two external
//! `ArrayBuffer`s over the core's own counters (the cache's write epoch and the client's
//! principal version), each a `u64` read as two `Int32` words with `Atomics.load`. The rule
//! stays in the core: the layer only compares `performance.now() < deadline` and the words.

use crate::client::HotPath;
use napi::bindgen_prelude::{ArrayBuffer, External};
use napi::{Env, Result};
use napi_derive::napi;
use std::sync::Arc;

/// A fresh hit for holding: its generation (which token), and how long the core keeps serving
/// it from a clock read taken after the look-up, in milliseconds rounded down to the
/// microsecond. The caller adds this to `performance.now()` read *before* the call.
#[napi(object)]
pub struct NativeHeldHit {
    pub generation: f64,
    pub usable_for_ms: f64,
}

/// The hit of interned `key` for holding, or `null` when the core would not serve one now.
#[napi(ts_args_type = "hot: ExternalObject<'NexusHotPath'>, key: number")]
pub fn peek_held(hot: &External<Arc<HotPath>>, key: u32) -> Option<NativeHeldHit> {
    let hit = hot.peek_to_hold(key)?;
    Some(NativeHeldHit {
        generation: hit.token.generation() as f64,
        usable_for_ms: hit.usable_for.as_micros() as f64 / 1000.0,
    })
}

/// The cache's write epoch as shared memory (8 bytes), or `null` where the runtime cannot share
/// memory with the addon (it would copy the counter once, and a copy never changes).
#[napi(
    ts_args_type = "hot: ExternalObject<'NexusHotPath'>",
    ts_return_type = "ArrayBuffer | null"
)]
pub fn epoch_word<'env>(
    env: &'env Env,
    hot: &External<Arc<HotPath>>,
) -> Result<Option<ArrayBuffer<'env>>> {
    // Clones share the counter: the pointer stays valid while the clone lives.
    let word = nexus_sdk::hold::epoch_word(hot.cache()).as_ptr();
    share(env, word, hot.cache().clone())
}

/// The client's principal version as shared memory, like [`epoch_word`].
#[napi(
    ts_args_type = "hot: ExternalObject<'NexusHotPath'>",
    ts_return_type = "ArrayBuffer | null"
)]
pub fn principal_word<'env>(
    env: &'env Env,
    hot: &External<Arc<HotPath>>,
) -> Result<Option<ArrayBuffer<'env>>> {
    let word = nexus_sdk::hold::principal_word(hot.client()).as_ptr();
    share(env, word, hot.client().clone())
}

/// An `ArrayBuffer` over `word`, which lives as long as `owner` (kept until the buffer is
/// collected).
fn share<'env, T: 'env>(
    env: &'env Env,
    word: *mut u64,
    owner: T,
) -> Result<Option<ArrayBuffer<'env>>> {
    let data = word.cast::<u8>();
    // SAFETY: `word` is an `AtomicU64` inside the allocation `owner` keeps alive (an `Arc` clone);
    // `owner` is dropped only by the buffer's finalizer. JavaScript only reads it (the
    // TypeScript layer's `Atomics.load`); the core writes it atomically.
    let buffer = unsafe {
        ArrayBuffer::from_external(env, data, std::mem::size_of::<u64>(), owner, |_, owner| {
            drop(owner)
        })
    }?;
    // Where external buffers are not allowed, napi copies the bytes: a snapshot, not a view.
    Ok((buffer.as_ptr() == data.cast_const()).then_some(buffer))
}
