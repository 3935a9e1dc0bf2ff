//! Node bindings of the Nexus core (napi-rs). (work in progress; see its issue).
