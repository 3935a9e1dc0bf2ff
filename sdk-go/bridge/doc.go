// Package bridge keeps a WebSocket connection to an upstream service open for as long as its
// context lives, authenticated with a Nexus credential.
//
// [MaintainWebSocket] resolves the credential through the oauthsdk token cache, applies the
// strategy the gateway named to the handshake request, dials, and reconnects with exponential
// backoff and full jitter whenever the connection fails or drops. A handshake rejected with 401
// or 403 makes it drop the cached credential and force a refresh; when the credential cannot be
// renewed (reauth_required, or the upstream keeps rejecting fresh credentials) it stops and
// returns that error instead of looping forever.
//
// The rules are the same in the Rust bridge; docs/bridge.md states them once for both.
//
// Like the rest of the Go SDK it never writes to stdout: diagnostics go to the oauthsdk
// client's logger (stderr by default), and credential values never appear in a log line or an
// error.
package bridge
