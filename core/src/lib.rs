//! The Nexus client core: token cache, resolve client, strategy engine. (work in progress; see its issue).
