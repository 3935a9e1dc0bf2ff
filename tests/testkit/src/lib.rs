//! Loopback test servers: an OAuth provider with failure injection and an echo upstream. (work in progress; see its issue).
