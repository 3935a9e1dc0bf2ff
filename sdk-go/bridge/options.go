package bridge

import (
	"context"
	"math/rand/v2"
	"net/http"
	"time"
)

// Defaults of every knob (identical in the Rust bridge).
const (
	DefaultMinBackoff        = 2 * time.Second
	DefaultMaxBackoff        = 30 * time.Second
	DefaultStableAfter       = 30 * time.Second
	DefaultPingInterval      = 20 * time.Second
	DefaultPingTimeout       = 20 * time.Second
	DefaultReadLimit         = 16 << 20 // bytes per incoming message
	DefaultWriteTimeout      = 10 * time.Second
	DefaultHandshakeTimeout  = 30 * time.Second
	DefaultExpiryMargin      = 60 * time.Second
	DefaultMaxFreshRejection = 3
)

// config holds every knob of one MaintainWebSocket call.
type config struct {
	minBackoff, maxBackoff time.Duration
	stableAfter            time.Duration
	pingInterval           time.Duration
	pingTimeout            time.Duration
	readLimit              int64
	writeTimeout           time.Duration
	handshakeTimeout       time.Duration
	reconnectBeforeExpiry  bool
	expiryMargin           time.Duration
	maxFreshRejections     int
	httpClient             *http.Client
	header                 http.Header
	subprotocols           []string

	// Seams for tests: the clock, the wait between attempts and the jitter source.
	now    func() time.Time
	sleep  func(ctx context.Context, d time.Duration) error
	jitter func(n int64) int64 // uniform in [0, n)
}

func defaultConfig() config {
	return config{
		minBackoff:         DefaultMinBackoff,
		maxBackoff:         DefaultMaxBackoff,
		stableAfter:        DefaultStableAfter,
		pingInterval:       DefaultPingInterval,
		pingTimeout:        DefaultPingTimeout,
		readLimit:          DefaultReadLimit,
		writeTimeout:       DefaultWriteTimeout,
		handshakeTimeout:   DefaultHandshakeTimeout,
		expiryMargin:       DefaultExpiryMargin,
		maxFreshRejections: DefaultMaxFreshRejection,
		now:                time.Now,
		sleep:              sleepCtx,
		jitter:             rand.Int64N,
	}
}

// Option configures MaintainWebSocket.
type Option func(*config)

// WithBackoff sets the floor and the ceiling of the delay between attempts (defaults 2 s and
// 30 s). The delay after the n-th consecutive failure (n from 0) is uniform in
// [min, min(max, min·2ⁿ)]. Non-positive values keep the default; a max below min counts as min.
func WithBackoff(minDelay, maxDelay time.Duration) Option {
	return func(c *config) {
		if minDelay > 0 {
			c.minBackoff = minDelay
		}
		if maxDelay > 0 {
			c.maxBackoff = maxDelay
		}
	}
}

// WithStableAfter sets how long a connection must stay up for the failure count (and so the
// backoff) to start again from zero (default 30 s).
func WithStableAfter(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.stableAfter = d
		}
	}
}

// WithPing sets the keepalive: a ping every interval (default 20 s); when neither a pong nor
// any data arrives within timeout (default 20 s) of a ping, the connection counts as dropped.
func WithPing(interval, timeout time.Duration) Option {
	return func(c *config) {
		if interval > 0 {
			c.pingInterval = interval
		}
		if timeout > 0 {
			c.pingTimeout = timeout
		}
	}
}

// WithReadLimit sets the largest incoming message in bytes (default 16 MiB); a larger one
// ends the connection with an error reason (and a reconnect).
func WithReadLimit(n int64) Option {
	return func(c *config) {
		if n > 0 {
			c.readLimit = n
		}
	}
}

// WithWriteTimeout bounds one send (default 10 s). A send that times out fails and the
// connection is dropped (a half-written frame cannot be recovered).
func WithWriteTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.writeTimeout = d
		}
	}
}

// WithHandshakeTimeout bounds one connection attempt, from dialing to the end of the
// handshake (default 30 s); an upstream that does not answer in time counts as a failed
// attempt.
func WithHandshakeTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.handshakeTimeout = d
		}
	}
}

// WithReconnectBeforeExpiry turns on the proactive reconnect (off by default): margin before
// the credential expires (default 60 s when margin ≤ 0), the connection is closed with reason
// CredentialExpiring and reopened at once with a freshly refreshed credential. When the
// credential lives shorter than the margin, the reconnect happens at half its lifetime (never
// sooner than the minimum backoff).
func WithReconnectBeforeExpiry(margin time.Duration) Option {
	return func(c *config) {
		c.reconnectBeforeExpiry = true
		if margin > 0 {
			c.expiryMargin = margin
		}
	}
}

// WithMaxFreshRejections sets how many handshakes in a row may reject a freshly refreshed
// credential (401/403) before MaintainWebSocket gives up (default 3).
func WithMaxFreshRejections(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxFreshRejections = n
		}
	}
}

// WithHTTPClient sets the HTTP client used for the handshake (http.DefaultClient by default),
// e.g. for a custom TLS configuration.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) { c.httpClient = hc }
}

// WithHeader adds headers to every handshake (the credential's own header wins on a clash).
func WithHeader(h http.Header) Option {
	return func(c *config) { c.header = h.Clone() }
}

// WithSubprotocols sets the WebSocket subprotocols offered in the handshake.
func WithSubprotocols(protocols ...string) Option {
	return func(c *config) { c.subprotocols = append([]string(nil), protocols...) }
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// backoff is the delay after n consecutive failures (n from 0): uniform in
// [min, min(max, min·2ⁿ)] — exponential with full jitter above the floor.
func (c *config) backoff(n int) time.Duration {
	lo := c.minBackoff
	hi := max(c.maxBackoff, lo)
	if n < 62 {
		if d := lo << n; d > 0 && d < hi {
			hi = d
		}
	}
	return lo + time.Duration(c.jitter(int64(hi-lo)+1))
}
