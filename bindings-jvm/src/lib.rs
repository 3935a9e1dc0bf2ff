//! `nexus_jvm`: the JVM binding of the Nexus core (`nexus-sdk`), through UniFFI.
//!
//! Thin by design: every behaviour (cache, single flight, resolve, retries, strategies, the 401
//! rule, the error table) is the core's. This crate converts arguments and results, runs the
//! core's futures on a private tokio runtime, and flattens the core's errors into one UniFFI error
//! carrying the code, kind and exception class the core's table gives. The idiomatic Kotlin API
//! (`bindings-jvm/src/main/kotlin`) wraps the generated layer.
//!
//! - [`client`]: `NativeClient`, the core's `NexusClient` (resolve, cache, connections, fetch).
//! - [`session`]: agent sessions on `NativeClient`.
//! - [`token`]: `NativeTokenCache` and `NativeToken`.
//! - [`errors`]: `NativeError` and the class table.
//! - [`runtime`]: the private tokio runtime; dropping a call's future aborts its task.
//! - [`testing`]: hooks that run the conformance vectors through the core.

// `NativeError` carries every field of a core error by value: UniFFI lowers error variants as
// flat fields (a `Box` cannot cross), and errors are the cold path.
#![allow(clippy::result_large_err)]

pub mod client;
pub mod errors;
pub mod runtime;
pub mod session;
pub mod testing;
pub mod token;

uniffi::setup_scaffolding!();
