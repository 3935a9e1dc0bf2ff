//! The binding's private tokio runtime, and the one way Python code waits on the core.
//!
//! Every blocking call releases the GIL (`py.detach`), spawns the core's future onto the
//! runtime and blocks the calling thread until it is done; the runtime's worker threads run the
//! core and the connection pool's I/O and never touch Python. Python's `async` API runs these same blocking
//! calls on a worker thread (`asyncio.to_thread`), so no Rust future is ever handed to Python's
//! event loop, and a tokio thread can never call into an interpreter that is shutting down.

use crate::errors::to_py_err;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::runtime::Runtime;

/// The runtime of this process, with the fork generation it was built in. Locked only with the
/// GIL held: `os.fork()` runs holding the GIL, so a child never inherits this lock locked.
static RUNTIME: Mutex<Option<(u64, &'static Runtime)>> = Mutex::new(None);

/// Bumped in every child right after `fork` (a `pthread_atfork` handler: one atomic add, which
/// is async-signal-safe). State built under an older value belongs to the parent.
static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);

extern "C" fn after_fork_in_child() {
    FORK_GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// How many forks separate this process from the one that imported the module (0 there): a
/// value object built under one generation must not be used under another. One atomic load.
pub fn fork_generation() -> u64 {
    FORK_GENERATION.load(Ordering::Relaxed)
}

/// Two workers: the work is I/O-bound (waiting on the gateway and upstreams), and a small,
/// fixed number of threads keeps an SDK embedded in someone else's process unobtrusive.
const WORKER_THREADS: usize = 2;

/// Build the runtime at import time, so that a failure is an `ImportError`-time exception and
/// not a panic later; and register the fork handler.
///
/// Fork safety: a forked child has only the thread that called `fork`, so the parent's runtime
/// (its worker threads, its timers, the connections they drove) is dead there. The first call
/// in a child builds a new runtime; the parent's is leaked, never dropped (dropping it would
/// wait for threads that do not exist in the child). See `client.rs` for what a child may reuse.
pub fn init() -> PyResult<()> {
    static REGISTERED: std::sync::Once = std::sync::Once::new();
    REGISTERED.call_once(|| {
        // SAFETY: the handler only performs an atomic add (async-signal-safe), and the
        // registration happens once per process.
        unsafe {
            libc::pthread_atfork(None, None, Some(after_fork_in_child));
        }
    });
    runtime().map(|_| ())
}

/// This process's runtime, built on first use in each process (the importing one, or a child
/// after `fork`). Call with the GIL held (see [`RUNTIME`]).
fn runtime() -> PyResult<&'static Runtime> {
    let generation = fork_generation();
    let mut slot = RUNTIME
        .lock()
        .map_err(|_| PyRuntimeError::new_err("the I/O runtime lock is poisoned"))?;
    if let Some((built_in, runtime)) = *slot
        && built_in == generation
    {
        return Ok(runtime);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .thread_name("nexus-sdk-io")
        .enable_all()
        .build()
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start the I/O runtime: {e}")))?;
    // Leaked on purpose: one per process (plus one per fork in a child), for the life of it.
    let runtime: &'static Runtime = Box::leak(Box::new(runtime));
    *slot = Some((generation, runtime));
    Ok(runtime)
}

/// How often a waiting call looks for a pending signal (Ctrl-C) while the core works.
const SIGNAL_CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// Run a core future to completion with the GIL released; core errors become Python exceptions.
///
/// The future is spawned onto the runtime rather than driven on the calling thread: it then runs
/// next to the connection tasks of the pool (same worker, no hand-off per I/O event), and the
/// calling thread is woken once, when the result is ready. A panic inside the core surfaces as a
/// `RuntimeError` instead of unwinding into Python.
///
/// Every [`SIGNAL_CHECK_INTERVAL`] the waiting thread takes the GIL back for a moment to run
/// Python's signal handlers, so Ctrl-C interrupts a long call (`wait_for_active`, a slow
/// upstream) with `KeyboardInterrupt`; the core's task is then cancelled.
pub fn wait<T, F>(py: Python<'_>, future: F) -> PyResult<T>
where
    F: Future<Output = nexus_sdk::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let runtime = runtime()?;
    let mut task = runtime.spawn(future);
    loop {
        let step = py.detach(|| {
            runtime.block_on(async { tokio::time::timeout(SIGNAL_CHECK_INTERVAL, &mut task).await })
        });
        match step {
            Ok(Ok(result)) => return result.map_err(to_py_err),
            // The panic payload is not shown: it could quote anything, secrets included.
            Ok(Err(join_error)) => {
                return Err(PyRuntimeError::new_err(if join_error.is_panic() {
                    "the Nexus core panicked (a bug: please report it)"
                } else {
                    "the Nexus core call was cancelled"
                }));
            }
            Err(_still_running) => {
                if let Err(interrupt) = py.check_signals() {
                    task.abort();
                    return Err(interrupt);
                }
            }
        }
    }
}
