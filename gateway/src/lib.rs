//! The Nexus gateway: the public resolve API. (work in progress; see its issue).
