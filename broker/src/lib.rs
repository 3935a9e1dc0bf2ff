//! The Nexus broker: the vault that holds secrets, runs the connect flow and refreshes tokens. (work in progress; see its issue).
