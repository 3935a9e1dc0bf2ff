//! Node bindings of the Nexus core (napi-rs).
use napi_derive::napi;

/// The version of the native addon.
#[napi]
pub fn native_version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}
