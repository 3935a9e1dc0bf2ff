//! Node bindings of the Nexus core (napi-rs v3).
//!
//! Thin by design: every behaviour (token cache, resolve client with retries, the six strategies,
//! the connection lifecycle) is the `nexus-sdk` crate's. This crate only converts between
//! JavaScript values and the core's types, and encodes the core's errors for `src/errors.ts`.
//! The TypeScript layer (`src/*.ts`) builds the public API on top.
//!
//! - [`bridge`]: `NativeWebSocketBridge`, the core's bridged WebSocket.
//! - [`client`]: `NativeClient`, one core client plus its token cache.
//! - [`convert`]: the plain objects crossing the boundary (credential, request, connection).
//! - [`held`]: what `getToken` needs to serve a hit without a native call (shared counters).
//! - [`proxy`]: proxy mode: the proxy URL and credential of a call, and its answer checked.
//! - [`error`]: how a core error travels to JavaScript, and the core's error table
//!   (`errorTable`, which `src/errors.ts` is checked against).
//! - [`resource_server`]: `NativeResourceServer`, the core's MCP resource-server kit.
//! - [`user_credential`]: the MCP user's own upstream credential (`NativeClient.userCredential`,
//!   `prepareUserRequest`, `prepareUserRetry`).
//! - [`vectors`]: the strategy engine as a pure function, for the shared conformance vectors.
//!
//! Nothing here writes to stdout: the core logs through `tracing`, and no subscriber is installed.

pub mod bridge;
pub mod client;
pub mod convert;
pub mod error;
pub mod held;
pub mod proxy;
pub mod resource_server;
pub mod session;
pub mod user_credential;
pub mod vectors;

use napi_derive::napi;

/// The version of the native addon (the workspace version).
#[napi]
pub fn native_version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}
