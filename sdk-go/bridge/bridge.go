package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	oauthsdk "github.com/dromos/nexus/sdk-go"
)

// MaintainWebSocket keeps a WebSocket connection to url open, authenticated with the credential
// of (workspaceID, provider), until ctx ends or the credential cannot be renewed.
//
// It returns nil once ctx is cancelled (after closing the socket with a normal close frame,
// calling OnDisconnect with Cancelled and stopping every goroutine it started). It returns an
// error only when going on is pointless:
//   - *oauthsdk.Error with Code reauth_required (a person must authorize again; ReauthURL
//     says where), unauthorized or forbidden (the gateway refused the API key), or another
//     gateway error that retrying cannot fix (connection_not_found, provider_not_found, …);
//   - *oauthsdk.Error with Code unauthorized (handshake 401) or forbidden (403) after the
//     upstream rejected freshly refreshed credentials WithMaxFreshRejections times in a row;
//   - *oauthsdk.Error for a strategy that cannot be applied or a URL that is not ws(s).
//
// Transient failures — the gateway unreachable or overloaded, the upstream down, a dropped
// connection, a missed pong — are retried after a backoff (see WithBackoff) for as long as ctx
// lives.
func MaintainWebSocket(ctx context.Context, client *oauthsdk.Client, cache *oauthsdk.TokenCache,
	workspaceID, provider, url string, handler Handler, opts ...Option) error {
	if client == nil || cache == nil || handler == nil {
		return &oauthsdk.Error{Code: oauthsdk.CodeInvalidRequest, Message: "bridge: client, cache and handler are required"}
	}
	cfg := defaultConfig()
	for _, opt := range opts {
		opt(&cfg)
	}
	b := &bridge{cfg: cfg, client: client, cache: cache, workspace: workspaceID, provider: provider,
		url: url, handler: handler, log: client.Logger()}
	return b.run(ctx)
}

// bridge is the state of one MaintainWebSocket call.
type bridge struct {
	cfg                 config
	client              *oauthsdk.Client
	cache               *oauthsdk.TokenCache
	workspace, provider string
	url                 string
	handler             Handler
	log                 *slog.Logger
}

// credentialSource says where the credential of the next attempt comes from.
type credentialSource int

const (
	// fromCache: the first attempt; a cached credential is fine.
	fromCache credentialSource = iota
	// freshResolve: after a failure or a drop, the cache entry is dropped and resolved again,
	// so a credential that was rotated meanwhile is not presented.
	freshResolve
	// forcedRefresh: after a 401/403 handshake (or before the credential expires), the gateway
	// refreshes at the provider (force_refresh).
	forcedRefresh
)

// run is the connect / serve / back off loop.
func (b *bridge) run(ctx context.Context) error {
	source := fromCache
	failures := 0        // consecutive failures: the n of the backoff
	freshRejections := 0 // handshakes in a row that rejected a force-refreshed credential
	var current *oauthsdk.Credential
	for ctx.Err() == nil {
		cred, err := b.credential(ctx, source, current)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if isTerminal(err) {
				b.log.LogAttrs(ctx, slog.LevelWarn, "nexus bridge: stopping, the credential cannot be renewed",
					slog.String("provider", b.provider), slog.String("error", err.Error()))
				return err
			}
			b.log.LogAttrs(ctx, slog.LevelInfo, "nexus bridge: resolving the credential failed",
				slog.String("provider", b.provider), slog.String("error", err.Error()))
			if !b.backOff(ctx, &failures) {
				break
			}
			continue // keep source: a forced refresh that failed is tried again as one
		}
		current = cred

		hs, err := buildHandshake(b.url, cred, b.cfg.header, b.cfg.now())
		if err != nil {
			return err // a bad URL or strategy does not fix itself
		}
		res := b.cfg.dial(ctx, hs)
		if res.conn == nil {
			if ctx.Err() != nil {
				break
			}
			b.log.LogAttrs(ctx, slog.LevelInfo, "nexus bridge: connecting failed",
				slog.String("provider", b.provider), slog.String("error", res.detail))
			if res.rejected() {
				if source == forcedRefresh {
					freshRejections++
					if freshRejections >= b.cfg.maxFreshRejections {
						return rejectedError(res.status, freshRejections)
					}
				}
				source = forcedRefresh
			} else {
				source = freshResolve
			}
			if !b.backOff(ctx, &failures) {
				break
			}
			continue
		}

		freshRejections = 0
		reason, upFor := b.serve(ctx, res.conn, cred)
		b.handler.OnDisconnect(reason)
		b.log.LogAttrs(ctx, slog.LevelInfo, "nexus bridge: disconnected",
			slog.String("provider", b.provider), slog.String("reason", reason.String()))
		if upFor >= b.cfg.stableAfter {
			failures = 0
		}
		switch reason.Kind {
		case Cancelled:
			return nil
		case CredentialExpiring:
			source = forcedRefresh // reconnect at once, with a new credential
			continue
		}
		source = freshResolve
		if !b.backOff(ctx, &failures) {
			break
		}
	}
	return nil
}

// credential gets the credential for the next attempt from source. current is the credential
// of the previous attempt (nil before the first).
func (b *bridge) credential(ctx context.Context, source credentialSource, current *oauthsdk.Credential) (*oauthsdk.Credential, error) {
	switch source {
	case fromCache:
		return b.client.GetCachedToken(ctx, b.cache, b.workspace, b.provider)
	case freshResolve:
		b.client.InvalidateCachedToken(b.cache, b.workspace, b.provider)
		return b.client.GetCachedToken(ctx, b.cache, b.workspace, b.provider)
	default:
		b.client.InvalidateCachedToken(b.cache, b.workspace, b.provider)
		return b.client.RefreshCachedToken(ctx, b.cache, b.workspace, b.provider, current)
	}
}

// backOff waits the backoff for the current failure count, then counts one more failure. It
// returns false when ctx ended during the wait.
func (b *bridge) backOff(ctx context.Context, failures *int) bool {
	delay := b.cfg.backoff(*failures)
	*failures++
	b.log.LogAttrs(ctx, slog.LevelDebug, "nexus bridge: waiting before the next attempt",
		slog.Duration("delay", delay), slog.Int("failures", *failures))
	return b.cfg.sleep(ctx, delay) == nil
}

// isTerminal reports whether a resolve error means retrying cannot help: everything but the
// failures that pass by themselves (network, timeouts, overload, server faults).
func isTerminal(err error) bool {
	var e *oauthsdk.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code {
	case oauthsdk.CodeConnectionError, oauthsdk.CodeTimeout, oauthsdk.CodeUpstreamUnavailable,
		oauthsdk.CodeRateLimited, oauthsdk.CodeInternalError, oauthsdk.CodeInvalidResponse:
		return false
	default:
		return true
	}
}

// rejectedError is the terminal error after the upstream rejected n fresh credentials.
func rejectedError(status, n int) *oauthsdk.Error {
	code := oauthsdk.CodeUnauthorized
	if status == http.StatusForbidden {
		code = oauthsdk.CodeForbidden
	}
	return &oauthsdk.Error{Code: code, StatusCode: status,
		Message: fmt.Sprintf("the WebSocket server rejected %d freshly refreshed credentials in a row", n)}
}
