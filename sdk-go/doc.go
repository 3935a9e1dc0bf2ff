// Package oauthsdk is the Go SDK of Nexus, the credential broker for AI agents and MCP servers.
//
// A [Client] talks to the Nexus gateway. It resolves a short-lived credential for a
// (workspace, provider) pair together with a strategy that says how to put the credential into
// an upstream request. [Client.AuthenticatedHTTPClient] wraps all of that in a standard
// *http.Client: every request it sends carries a fresh credential, injected with the strategy
// the gateway named (oauth2, header, query_param, basic_auth, hmac_payload or aws_sigv4).
//
//	nexus := oauthsdk.New(os.Getenv("NEXUS_GATEWAY_URL"), oauthsdk.WithAPIKey(key))
//	cache := oauthsdk.NewTokenCache(30 * time.Second)
//	gh := nexus.AuthenticatedHTTPClient(cache, workspaceID, "github")
//	resp, err := gh.Get("https://api.github.com/user/repos?per_page=10")
//
// The SDK never writes to stdout, which belongs to an MCP server's JSON-RPC stream. Diagnostics
// go to a [log/slog] logger (stderr by default, warnings and above only). Credential values are
// never logged and never appear in an error message; [Credential] and [Secret] redact
// themselves when printed.
//
// The package uses the standard library only. Its behaviour is held identical to the Rust core
// (and through it the Python and Node SDKs) by the shared conformance vectors in tests/vectors.
package oauthsdk
