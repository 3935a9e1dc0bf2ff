package oauthsdk

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"strings"
)

// maxDiscardBytes bounds how much of a rejected (401) response is drained so that its
// connection can be reused.
const maxDiscardBytes = 64 << 10

// AuthenticatedTransport is an http.RoundTripper that injects the credential of one
// (workspace, provider) pair into every request, using the strategy the gateway names.
//
// It never changes the caller's request: each request is cloned first. When the upstream
// answers 401, the cached credential is dropped, a new one is resolved with force_refresh and
// the request is sent once more, provided its body can be replayed (no body, or GetBody set, as
// http.NewRequest does for in-memory bodies). A second 401 is returned as it is; a failed
// refresh returns its *Error (reauth_required, say) instead of the first 401.
type AuthenticatedTransport struct {
	client    *Client
	cache     *TokenCache
	workspace string
	provider  string
	base      http.RoundTripper
}

// NewAuthenticatedTransport returns a RoundTripper for composition with other transports;
// base sends the authenticated request (http.DefaultTransport when nil).
func (c *Client) NewAuthenticatedTransport(cache *TokenCache, workspaceID, provider string, base http.RoundTripper) *AuthenticatedTransport {
	if base == nil {
		base = http.DefaultTransport
	}
	return &AuthenticatedTransport{client: c, cache: cache, workspace: workspaceID, provider: provider, base: base}
}

// AuthenticatedHTTPClient returns a standard *http.Client whose requests carry the credential
// of (workspaceID, provider), served from cache. It has no overall timeout: use a request
// context for deadlines.
func (c *Client) AuthenticatedHTTPClient(cache *TokenCache, workspaceID, provider string) *http.Client {
	return &http.Client{Transport: c.NewAuthenticatedTransport(cache, workspaceID, provider, nil)}
}

// RoundTrip implements http.RoundTripper.
func (t *AuthenticatedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if leavesOrigin(req) {
		// A redirect to another origin: the credential must not follow it (an upstream could
		// otherwise send it anywhere). Go's client drops the caller's own Authorization header
		// in the same case.
		return t.base.RoundTrip(req)
	}
	cred, err := t.client.GetCachedToken(ctx, t.cache, t.workspace, t.provider)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	resp, err := t.send(req, cred, false)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || !replayable(req) {
		return resp, err
	}

	// The upstream rejected the credential: it may have been revoked or rotated early. Get a
	// new one from the provider (not from any cache) and try once more.
	t.client.logger.LogAttrs(ctx, slog.LevelInfo, "nexus: upstream answered 401, refreshing credential",
		slog.String("workspace_id", t.workspace), slog.String("provider", t.provider))
	fresh, err := t.client.refreshCachedToken(ctx, t.cache, t.workspace, t.provider, cred)
	drain(resp)
	if err != nil {
		// The refresh itself failed (e.g. reauth_required: the provider revoked the grant). That
		// typed error says what to do; the upstream's 401 would not (the rule of every SDK,
		// tests/vectors/client_behaviour.json).
		closeBody(req)
		return nil, err
	}
	return t.send(req, fresh, true)
}

// send clones req, injects cred and passes the clone to the base transport. The first send
// uses the caller's body; a replay (after a 401) takes a fresh copy from GetBody.
func (t *AuthenticatedTransport) send(req *http.Request, cred *Credential, replay bool) (*http.Response, error) {
	out := req.Clone(req.Context())
	if replay && req.GetBody != nil && hasBody(req) {
		body, err := req.GetBody()
		if err != nil {
			return nil, &Error{Code: CodeInvalidRequest, Message: "the request body cannot be replayed", Err: err}
		}
		out.Body = body
	}
	strategy, err := ParseStrategy(cred.Strategy)
	if err != nil {
		closeBody(out)
		return nil, err
	}
	var body []byte
	if needsBody(strategy) && hasBody(out) {
		if body, err = bufferBody(out); err != nil {
			return nil, err
		}
	}
	if err := strategy.Apply(out, cred, body, t.client.now()); err != nil {
		closeBody(out)
		return nil, err
	}
	return t.base.RoundTrip(out)
}

// leavesOrigin reports whether req is a redirect (http.Client sets req.Response) whose scheme
// or host differs from the request the caller first made.
func leavesOrigin(req *http.Request) bool {
	first := req
	for first.Response != nil && first.Response.Request != nil {
		first = first.Response.Request
	}
	if first == req {
		return false
	}
	return first.URL.Scheme != req.URL.Scheme || !strings.EqualFold(first.URL.Host, req.URL.Host)
}

// needsBody reports whether the strategy signs the request body.
func needsBody(s *Strategy) bool {
	return s.Kind == StrategyHMACPayload || s.Kind == StrategyAWSSigV4
}

func hasBody(req *http.Request) bool {
	return req.Body != nil && req.Body != http.NoBody
}

// bufferBody reads out's body into memory (to sign it) and puts back an identical one.
func bufferBody(out *http.Request) ([]byte, error) {
	body, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil {
		return nil, &Error{Code: CodeInvalidRequest, Message: "the request body cannot be read", Err: err}
	}
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.ContentLength = int64(len(body))
	return body, nil
}

// replayable reports whether req may be sent a second time.
func replayable(req *http.Request) bool {
	return !hasBody(req) || req.GetBody != nil
}

// closeBody honours the RoundTripper contract: the request body is closed even on error.
func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// drain reads a little of a discarded response and closes it, so its connection is reused.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDiscardBytes))
	resp.Body.Close()
}
