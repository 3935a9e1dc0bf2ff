package oauthsdk

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// maxResponseBytes bounds what the SDK reads from the gateway.
const maxResponseBytes = 1 << 20

// Client talks to the Nexus gateway. It is safe for concurrent use; build one per gateway and
// API key and share it.
type Client struct {
	gatewayURL string
	apiKey     Secret
	httpClient *http.Client
	retry      RetryPolicy
	logger     *slog.Logger
	now        func() time.Time
	// sleep waits between retries; tests replace it to observe the delays without waiting.
	sleep func(ctx context.Context, d time.Duration) error
	// identity separates this client's credentials from other clients' in a shared TokenCache:
	// the interned number of the gateway URL and a hash of the API key (never the key itself).
	identity uint64
	// sessions holds the active agent session (session.go).
	sessions sessionSlot
}

// Option configures a Client.
type Option func(*Client)

// WithAPIKey sets the workspace API key sent as "Authorization: Bearer <key>".
func WithAPIKey(key string) Option {
	return func(c *Client) { c.apiKey = Secret(key) }
}

// WithHTTPClient sets the HTTP client used to reach the gateway (not the upstream APIs). The
// default has a 30 s timeout.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.httpClient = hc
		}
	}
}

// WithRetry sets how gateway calls are retried. See RetryPolicy.
func WithRetry(policy RetryPolicy) Option {
	return func(c *Client) { c.retry = policy.withDefaults() }
}

// WithLogger sets the logger. The default writes warnings and errors to stderr as text; the
// SDK logs retries at Info and per-request detail at Debug, so it is quiet on the hot path.
func WithLogger(logger *slog.Logger) Option {
	return func(c *Client) {
		if logger != nil {
			c.logger = logger
		}
	}
}

// New returns a client for the gateway at gatewayURL (e.g. "http://127.0.0.1:8080"), usually
// os.Getenv("NEXUS_GATEWAY_URL"). A trailing slash is ignored.
func New(gatewayURL string, opts ...Option) *Client {
	c := &Client{
		gatewayURL: strings.TrimRight(gatewayURL, "/"),
		httpClient: &http.Client{Timeout: 30 * time.Second},
		retry:      DefaultRetryPolicy(),
		logger: slog.New(slog.NewTextHandler(os.Stderr,
			&slog.HandlerOptions{Level: slog.LevelWarn})),
		now:   time.Now,
		sleep: sleepCtx,
	}
	for _, opt := range opts {
		opt(c)
	}
	keyHash := sha256.Sum256([]byte(c.apiKey))
	c.identity = internIdentity(c.gatewayURL + "\x00" + hex.EncodeToString(keyHash[:8]))
	return c
}

// RetryPolicy says how a gateway call is retried (the same rules as the Rust core):
//
//   - a connection failure (the request never reached the gateway): always;
//   - HTTP 502, 503, 504: for idempotent calls (all but RequestConnection);
//   - HTTP 429: after the Retry-After the gateway sent (the backoff when it sent none), unless
//     that is longer than MaxRetryAfter, in which case the rate_limited *Error is returned;
//   - never: any other 4xx, timeouts, invalid responses.
//
// The backoff before retry n (0-based) is "full jitter": a uniform random delay in
// [0, min(MaxDelay, BaseDelay·2^n)], which spreads the retries of many clients that failed
// together.
type RetryPolicy struct {
	// MaxRetries is the number of retries after the first attempt; 0 disables retrying.
	MaxRetries int
	// BaseDelay bounds the first backoff (100 ms when zero).
	BaseDelay time.Duration
	// MaxDelay caps one backoff (5 s when zero).
	MaxDelay time.Duration
	// MaxRetryAfter is the longest Retry-After waited for (60 s when zero).
	MaxRetryAfter time.Duration
}

// DefaultRetryPolicy is 3 retries, 100 ms base delay, 5 s cap, Retry-After up to 60 s.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{MaxRetries: 3, BaseDelay: 100 * time.Millisecond, MaxDelay: 5 * time.Second,
		MaxRetryAfter: 60 * time.Second}
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	d := DefaultRetryPolicy()
	if p.MaxRetries < 0 {
		p.MaxRetries = 0
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = d.BaseDelay
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = d.MaxDelay
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = d.MaxRetryAfter
	}
	return p
}

// backoff is the full-jitter delay before retry number n (0-based).
func (p RetryPolicy) backoff(n int) time.Duration {
	ceiling := p.MaxDelay
	if n < 30 {
		if d := p.BaseDelay << n; d > 0 && d < ceiling {
			ceiling = d
		}
	}
	return time.Duration(rand.Int64N(int64(ceiling) + 1))
}

// call is one gateway request: method, path (with query) and an optional JSON body.
// sideEffects marks the one call that is not idempotent (request-connection creates a
// connection each time), so it is not retried after reaching the gateway.
type call struct {
	method      string
	path        string
	body        any
	sideEffects bool
	// auth, when set, authenticates instead of the API key (a session token, an agent
	// credential).
	auth Secret
}

// do sends c to the gateway with retries and returns the 2xx body, or an *Error.
func (c *Client) do(ctx context.Context, req call) ([]byte, error) {
	var payload []byte
	if req.body != nil {
		var err error
		if payload, err = json.Marshal(req.body); err != nil {
			return nil, &Error{Code: CodeInvalidRequest, Message: "the request body cannot be encoded", Err: err}
		}
	}
	for attempt := 0; ; attempt++ {
		body, delay, err := c.attempt(ctx, req, payload, attempt)
		if err == nil {
			return body, nil
		}
		if delay < 0 || attempt >= c.retry.MaxRetries {
			return nil, err
		}
		c.logger.LogAttrs(ctx, slog.LevelInfo, "nexus: retrying gateway call",
			slog.String("path", pathOnly(req.path)), slog.Int("attempt", attempt+1),
			slog.Duration("delay", delay), slog.String("error", err.Error()))
		if err := c.sleep(ctx, delay); err != nil {
			return nil, err
		}
	}
}

// attempt makes try number n (0-based). delay ≥ 0 means the failure may be retried after that
// delay; -1 means it is final.
func (c *Client) attempt(ctx context.Context, req call, payload []byte, n int) (body []byte, delay time.Duration, err error) {
	var reader io.Reader
	if payload != nil {
		reader = bytes.NewReader(payload)
	}
	httpReq, err := http.NewRequestWithContext(ctx, req.method, c.gatewayURL+req.path, reader)
	if err != nil {
		return nil, -1, &Error{Code: CodeInvalidRequest, Message: "the gateway URL or path is invalid", Err: err}
	}
	if req.auth != "" {
		httpReq.Header.Set("Authorization", "Bearer "+req.auth.Reveal())
	} else if c.apiKey != "" {
		httpReq.Header.Set("Authorization", "Bearer "+c.apiKey.Reveal())
	}
	httpReq.Header.Set("Accept", "application/json")
	if payload != nil {
		httpReq.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.httpClient.Do(httpReq)
	if err != nil {
		if ctx.Err() != nil {
			return nil, -1, ctx.Err()
		}
		e := transportError(err)
		if e.Code == CodeConnectionError && isConnectFailure(err) {
			return nil, c.retry.backoff(n), e
		}
		return nil, -1, e
	}
	defer resp.Body.Close()
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if readErr != nil {
		if ctx.Err() != nil {
			return nil, -1, ctx.Err()
		}
		return nil, -1, &Error{Code: CodeConnectionError, StatusCode: resp.StatusCode,
			Message: "the gateway's response was cut short", Err: readErr}
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return body, 0, nil
	}
	e := errorFromResponse(resp.StatusCode, resp.Header, body)
	return nil, c.retryDelay(req, resp.StatusCode, e, n), e
}

// retryDelay decides whether a gateway error status is retried, and after how long.
func (c *Client) retryDelay(req call, status int, e *Error, n int) time.Duration {
	switch status {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		if req.sideEffects {
			return -1 // the gateway may have acted on it
		}
		return c.retry.backoff(n)
	case http.StatusTooManyRequests:
		if e.RetryAfter > c.retry.MaxRetryAfter {
			return -1
		}
		if e.RetryAfter > 0 {
			return e.RetryAfter
		}
		return c.retry.backoff(n)
	default:
		return -1
	}
}

// isConnectFailure reports whether the request never reached the gateway (DNS, refused,
// unreachable): retrying it cannot repeat an action, whatever the method.
func isConnectFailure(err error) bool {
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == "dial"
}

// transportError classifies a failed gateway call as a timeout or a connection error.
func transportError(err error) *Error {
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return &Error{Code: CodeTimeout, Message: "the gateway did not answer in time", Err: redactURLError(err)}
	}
	return &Error{Code: CodeConnectionError, Message: "the gateway could not be reached", Err: redactURLError(err)}
}

// redactURLError drops the URL (which may carry a query) from a transport error.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// pathOnly strips the query string, for logs.
func pathOnly(p string) string {
	path, _, _ := strings.Cut(p, "?")
	return path
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ResolveOption adjusts one resolve call.
type ResolveOption func(*url.Values)

// MinTTL asks for a credential that stays valid at least d (rounded up to whole seconds).
func MinTTL(d time.Duration) ResolveOption {
	return func(q *url.Values) {
		secs := int64((d + time.Second - 1) / time.Second)
		q.Set("min_ttl", strconv.FormatInt(secs, 10))
	}
}

// ForceRefresh skips every cache on the server side and refreshes at the provider.
func ForceRefresh() ResolveOption {
	return func(q *url.Values) { q.Set("force_refresh", "true") }
}

// ResolveToken asks the gateway for a credential for (workspaceID, provider), bypassing any
// client cache. Errors are *Error (e.g. CodeReauthRequired with ReauthURL set).
func (c *Client) ResolveToken(ctx context.Context, workspaceID, provider string, opts ...ResolveOption) (*Credential, error) {
	q := url.Values{}
	q.Set("workspace_id", workspaceID)
	q.Set("provider_name", provider)
	for _, opt := range opts {
		opt(&q)
	}
	// Under an agent session the session token authenticates the resolve (session.go).
	auth, err := c.sessionAuth(ctx, c.activeSession())
	if err != nil {
		return nil, err
	}
	return c.fetchCredential(ctx, call{method: http.MethodGet, path: "/v1/resolve?" + q.Encode(), auth: auth})
}

// fetchCredential runs a call whose 200 body is a resolve response.
func (c *Client) fetchCredential(ctx context.Context, req call) (*Credential, error) {
	body, err := c.do(ctx, req)
	if err != nil {
		return nil, err
	}
	return parseCredential(body, c.now())
}

// GetCachedToken returns the credential for (workspaceID, provider) from cache, resolving it
// (once, however many goroutines ask at the same time) when it is missing or within the
// cache's buffer of its expiry.
func (c *Client) GetCachedToken(ctx context.Context, cache *TokenCache, workspaceID, provider string) (*Credential, error) {
	key := c.cacheKey(workspaceID, provider)
	// The hit path first, so that it builds no closure.
	if cred, ok := cache.lookup(key); ok {
		return cred, nil
	}
	return cache.getOrResolve(ctx, key, func(ctx context.Context) (*Credential, error) {
		return c.ResolveToken(ctx, workspaceID, provider)
	})
}

// InvalidateCachedToken drops the cached credential for (workspaceID, provider).
func (c *Client) InvalidateCachedToken(cache *TokenCache, workspaceID, provider string) {
	cache.invalidate(c.cacheKey(workspaceID, provider))
}

// RefreshCachedToken replaces stale, a credential that an upstream rejected (or that is about
// to expire), with one resolved with force_refresh, and stores it in cache. Concurrent callers
// with the same stale credential share one gateway call; a caller that finds a newer fresh
// credential already cached gets that one.
// It is what AuthenticatedTransport does after a 401, exported for the bridge modules
// (WebSocket handshakes, gRPC calls).
func (c *Client) RefreshCachedToken(ctx context.Context, cache *TokenCache, workspaceID, provider string, stale *Credential) (*Credential, error) {
	return c.refreshCachedToken(ctx, cache, workspaceID, provider, stale)
}

// Logger returns the client's logger (stderr, warnings and above, unless WithLogger set
// another), so that code built on the SDK logs through the same place and never to stdout.
func (c *Client) Logger() *slog.Logger { return c.logger }

// refreshCachedToken replaces a credential an upstream rejected, with force_refresh.
func (c *Client) refreshCachedToken(ctx context.Context, cache *TokenCache, workspaceID, provider string, stale *Credential) (*Credential, error) {
	return cache.replace(ctx, c.cacheKey(workspaceID, provider), stale, func(ctx context.Context) (*Credential, error) {
		return c.ResolveToken(ctx, workspaceID, provider, ForceRefresh())
	})
}

func (c *Client) cacheKey(workspaceID, provider string) cacheKey {
	// A session's credentials live in their own namespace of the cache (session.go).
	return cacheKey{client: c.identity, session: c.sessionNamespace(), workspace: workspaceID, provider: provider}
}
