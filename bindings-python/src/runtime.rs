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
use std::sync::OnceLock;
use std::time::Duration;
use tokio::runtime::Runtime;

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// Two workers: the work is I/O-bound (waiting on the gateway and upstreams), and a small,
/// fixed number of threads keeps an SDK embedded in someone else's process unobtrusive.
const WORKER_THREADS: usize = 2;

/// Build the runtime at import time, so that a failure is an `ImportError`-time exception and
/// not a panic later.
pub fn init() -> PyResult<()> {
    if RUNTIME.get().is_some() {
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .thread_name("nexus-sdk-io")
        .enable_all()
        .build()
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start the I/O runtime: {e}")))?;
    // A concurrent init (two sub-interpreters) may win the race; its runtime is as good as ours.
    let _ = RUNTIME.set(runtime);
    Ok(())
}

fn runtime() -> PyResult<&'static Runtime> {
    RUNTIME
        .get()
        .ok_or_else(|| PyRuntimeError::new_err("the I/O runtime is not running"))
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
