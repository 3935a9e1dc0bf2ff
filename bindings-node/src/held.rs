//! What `getToken` needs to serve a cache hit without a native call (see `src/client.ts`).
//!
//! A napi call costs more than the whole cache hit, so the TypeScript layer keeps the core's
//! answer: the converted credential, the core's deadline for it and the two versions it depends
//! on (`nexus_sdk::hold`). It reads those versions from shared memory: two external
//! `ArrayBuffer`s over the core's own counters (the cache's write epoch and the client's
//! principal version), each a `u64` read as two `Int32` words. The rule stays in the core: the
//! layer only compares the words, and the deadline: the core's coarse clock word (one `f64`,
//! see `nexus_sdk::coarse_clock`) below `coarseUntilMs`, else `performance.now() < deadline`.

use crate::client::HotPath;
use napi::bindgen_prelude::{ArrayBuffer, External};
use napi::{Env, Result};
use napi_derive::napi;
use std::sync::Arc;

/// A fresh hit for holding: its generation (which token), and how long the core keeps serving
/// it from a clock read taken after the look-up, in milliseconds rounded down to the
/// microsecond. The caller adds this to `performance.now()` read *before* the call.
/// `coarse_until_ms`: while the coarse clock word is below it, the hit serves without reading
/// the clock (the core's deadline minus its window, in the clock's base; `-Infinity`: never).
#[napi(object)]
pub struct NativeHeldHit {
    pub generation: f64,
    pub usable_for_ms: f64,
    pub coarse_until_ms: f64,
}

/// The hit of interned `key` for holding, or `null` when the core would not serve one now.
#[napi(ts_args_type = "hot: ExternalObject<'NexusHotPath'>, key: number")]
pub fn peek_held(hot: &External<Arc<HotPath>>, key: u32) -> Option<NativeHeldHit> {
    let hit = hot.peek_to_hold(key)?;
    Some(NativeHeldHit {
        generation: hit.token.generation() as f64,
        usable_for_ms: hit.usable_for.as_micros() as f64 / 1000.0,
        coarse_until_ms: hit.coarse_until,
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

/// The process's coarse clock as shared memory (8 bytes, one `f64`: milliseconds in the clock's
/// base, `Infinity` while not trusted), or `null` like [`epoch_word`].
#[napi(ts_return_type = "ArrayBuffer | null")]
pub fn coarse_clock_word(env: &Env) -> Result<Option<ArrayBuffer<'_>>> {
    share(env, nexus_sdk::hold::coarse_clock_word().as_ptr(), ())
}

/// For tests only: stop the process's coarse clock ticker for good and publish `publishedMs`
/// (in the clock's base), or make the clock untrusted (`null`).
#[napi]
pub fn hold_coarse_clock_for_tests(published_ms: Option<f64>) {
    nexus_sdk::coarse_clock::CoarseClock::system().hold_for_tests(published_ms);
}

/// The real clock now in the coarse clock's base (for tests).
#[napi]
pub fn coarse_clock_now_ms() -> f64 {
    nexus_sdk::coarse_clock::CoarseClock::system().now_ms()
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
/// collected; `()` for a word that lives as long as the process).
fn share<'env, T: 'env>(
    env: &'env Env,
    word: *mut u64,
    owner: T,
) -> Result<Option<ArrayBuffer<'env>>> {
    let data = word.cast::<u8>();
    // SAFETY: `word` is an `AtomicU64` inside the allocation `owner` keeps alive (an `Arc` clone);
    // `owner` is dropped only by the buffer's finalizer (or the word is a static). JavaScript
    // only reads it (plain aligned loads, see `HoldWords` in client.ts); the core writes it
    // atomically.
    let buffer = unsafe {
        ArrayBuffer::from_external(env, data, std::mem::size_of::<u64>(), owner, |_, owner| {
            drop(owner)
        })
    }?;
    // Where external buffers are not allowed, napi copies the bytes: a snapshot, not a view.
    Ok((buffer.as_ptr() == data.cast_const()).then_some(buffer))
}
