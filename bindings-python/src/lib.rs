//! Python bindings of the Nexus core (pyo3). (work in progress; see its issue).
