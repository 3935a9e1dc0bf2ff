//! The private tokio runtime every core future runs on.
//!
//! UniFFI polls an async call's future from the JVM side; the core's work (reqwest's connection
//! pool, session renewal tasks) needs a tokio runtime that outlives any one call. So each call is
//! spawned here and its handle awaited. Cancelling the Kotlin coroutine drops that future, which
//! aborts the task: cancellation reaches the core. The single flight survives a cancelled
//! caller (the core's shared future is driven by whichever waiter remains).

use std::future::Future;
use std::sync::LazyLock;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
    nexus_sdk::logging::init_from_env();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("nexus-core")
        .enable_all()
        .build()
        .expect("the Nexus tokio runtime cannot start")
});

/// Aborts the task when the awaiting future is dropped (the Kotlin caller was cancelled).
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Run `future` on the runtime and wait for it; dropping the returned future cancels it.
pub async fn run<F>(future: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let mut handle = AbortOnDrop(RUNTIME.spawn(future));
    match (&mut handle.0).await {
        Ok(output) => output,
        // Never cancelled while awaited (only our Drop aborts it); a panic in the core is
        // re-raised so UniFFI reports it as an internal error instead of hanging.
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => unreachable!("the task is aborted only after its awaiter is gone"),
    }
}
