//! Per-key async gates: one holder per key at a time in this process, any number of keys at
//! once. Used for the refresh single flight and for narrowing, both per connection.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::{Arc, Weak};

/// Gates by key, created on demand and dropped when nobody holds or waits on them.
#[derive(Default)]
pub(crate) struct KeyedGates {
    gates: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
}

impl KeyedGates {
    /// The gate of `key`: lock it (`gate.lock().await`) to be the one holder for that key.
    pub(crate) fn gate(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut gates = self.gates.lock();
        if let Some(gate) = gates.get(key).and_then(Weak::upgrade) {
            return gate;
        }
        gates.retain(|_, w| w.strong_count() > 0);
        let gate = Arc::new(tokio::sync::Mutex::new(()));
        gates.insert(key.to_owned(), Arc::downgrade(&gate));
        gate
    }
}
