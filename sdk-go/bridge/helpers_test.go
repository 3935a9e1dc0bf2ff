package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	oauthsdk "github.com/dromos/nexus/sdk-go"
)

// gateway is a fake Nexus gateway on 127.0.0.1: it issues tokens "tok-N" with the oauth2
// strategy and knows which one is current (the only one the upstream accepts).
type gateway struct {
	*httptest.Server
	resolves, forced atomic.Int64

	mu      sync.Mutex
	seq     int
	current string
	// rotate: every resolve issues a new token and retires the previous one.
	rotate bool
	// reauth: every resolve answers 409 reauth_required; reauthOnForce: only forced ones.
	reauth, reauthOnForce bool
	expiresIn             int
	strategy              map[string]any
}

const reauthURL = "https://nexus.example/reauth/abc"

func newGateway(t testing.TB) *gateway {
	t.Helper()
	g := &gateway{expiresIn: 3600, strategy: map[string]any{"type": "oauth2"}}
	g.Server = httptest.NewServer(http.HandlerFunc(g.serveResolve))
	t.Cleanup(g.Close)
	return g
}

func (g *gateway) serveResolve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/resolve" {
		http.NotFound(w, r)
		return
	}
	g.resolves.Add(1)
	forced := r.URL.Query().Get("force_refresh") == "true"
	if forced {
		g.forced.Add(1)
	}
	g.mu.Lock()
	if g.reauth || (forced && g.reauthOnForce) {
		g.mu.Unlock()
		writeJSON(w, http.StatusConflict, map[string]any{"error": "reauth_required",
			"message": "the connection needs a new authorization", "reauth_url": reauthURL})
		return
	}
	if g.current == "" || g.rotate || forced {
		g.seq++
		g.current = fmt.Sprintf("tok-%d", g.seq)
	}
	token, expiresIn, strategy := g.current, g.expiresIn, g.strategy
	g.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"access_token": token, "token_type": "Bearer",
		"expires_in": expiresIn, "strategy": strategy, "credentials": map[string]any{"access_token": token}})
}

func (g *gateway) set(f func(g *gateway)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f(g)
}

func (g *gateway) currentToken() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.current
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// attempt is one handshake the upstream saw.
type attempt struct {
	at       time.Time
	token    string
	accepted bool
}

// upstream is a WebSocket server on 127.0.0.1 that accepts a handshake only with the gateway's
// current token (anything else: 401), records every attempt, and then behaves as serve says.
type upstream struct {
	*httptest.Server
	gw *gateway
	// status, when set, answers every handshake with this HTTP status (e.g. 503).
	status atomic.Int64
	// rejectAll answers 401 whatever the token.
	rejectAll atomic.Bool
	// noPong stops the server from answering pings.
	noPong atomic.Bool
	// serve runs an accepted connection; it must return when the connection ends.
	serve func(ctx context.Context, c *websocket.Conn)

	mu       sync.Mutex
	attempts []attempt
	// closes receives the close code of every connection the client closed normally.
	closes chan websocket.StatusCode
}

func newUpstream(t testing.TB, gw *gateway) *upstream {
	t.Helper()
	u := &upstream{gw: gw, closes: make(chan websocket.StatusCode, 100)}
	u.serve = u.echo
	u.Server = httptest.NewServer(http.HandlerFunc(u.handshake))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) handshake(w http.ResponseWriter, r *http.Request) {
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if token == "" {
		token = r.URL.Query().Get("access_token")
	}
	status := int(u.status.Load())
	ok := status == 0 && !u.rejectAll.Load() && token == u.gw.currentToken()
	u.mu.Lock()
	u.attempts = append(u.attempts, attempt{at: time.Now(), token: token, accepted: ok})
	u.mu.Unlock()
	if status != 0 {
		http.Error(w, "unavailable", status)
		return
	}
	if !ok {
		http.Error(w, "expired or unknown token", http.StatusUnauthorized)
		return
	}
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		OnPingReceived: func(context.Context, []byte) bool { return !u.noPong.Load() },
	})
	if err != nil {
		return
	}
	u.serve(r.Context(), conn)
}

// echo sends every message back until the connection ends, and reports a normal close.
func (u *upstream) echo(ctx context.Context, c *websocket.Conn) {
	defer c.CloseNow()
	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			u.noteClose(err)
			return
		}
		if err := c.Write(ctx, typ, data); err != nil {
			return
		}
	}
}

func (u *upstream) noteClose(err error) {
	if code := websocket.CloseStatus(err); code != -1 {
		u.closes <- code
	}
}

// dropAtRandom serves like echo but ends every connection after a random 5–40 ms (seeded), one
// time in two with a close frame (1012 service restart), otherwise by cutting the TCP stream.
func (u *upstream) dropAtRandom(seed uint64) func(ctx context.Context, c *websocket.Conn) {
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, seed))
	return func(ctx context.Context, c *websocket.Conn) {
		mu.Lock()
		after := time.Duration(5+rng.IntN(36)) * time.Millisecond
		withFrame := rng.IntN(2) == 0
		mu.Unlock()
		timer := time.AfterFunc(after, func() {
			if withFrame {
				_ = c.Close(websocket.StatusServiceRestart, "restarting")
			} else {
				_ = c.CloseNow()
			}
		})
		defer timer.Stop()
		u.echo(ctx, c)
	}
}

func (u *upstream) snapshot() []attempt {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]attempt(nil), u.attempts...)
}

func (u *upstream) wsURL() string { return "ws" + strings.TrimPrefix(u.URL, "http") + "/stream" }

// recorder is a Handler that records every event and signals connects and disconnects.
type recorder struct {
	mu          sync.Mutex
	reasons     []Reason
	messages    []Message
	connects    chan Sender
	disconnects chan Reason
	onConnect   func(Sender)
}

func newRecorder() *recorder {
	return &recorder{connects: make(chan Sender, 1000), disconnects: make(chan Reason, 1000)}
}

func (r *recorder) OnConnect(s Sender) {
	if r.onConnect != nil {
		r.onConnect(s)
	}
	r.connects <- s
}

func (r *recorder) OnMessage(m Message) {
	r.mu.Lock()
	r.messages = append(r.messages, m)
	r.mu.Unlock()
}

func (r *recorder) OnDisconnect(reason Reason) {
	r.mu.Lock()
	r.reasons = append(r.reasons, reason)
	r.mu.Unlock()
	r.disconnects <- reason
}

// sleepRecorder replaces the bridge's wait between attempts: it records each delay and waits
// a tenth of it (real time still passes, so the upstream's timestamps stay ordered).
type sleepRecorder struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (s *sleepRecorder) option() Option {
	return func(c *config) {
		c.sleep = func(ctx context.Context, d time.Duration) error {
			s.mu.Lock()
			s.delays = append(s.delays, d)
			s.mu.Unlock()
			return sleepCtx(ctx, d/10)
		}
	}
}

func (s *sleepRecorder) snapshot() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.delays...)
}

// logBuffer collects the SDK's log output (all levels) for the secrecy checks.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// newClient is an SDK client for gw that logs everything into logs and keeps no idle gateway
// connections (so that the goroutine checks see only the bridge).
func newClient(gw *gateway, logs *logBuffer) *oauthsdk.Client {
	var out = &logBuffer{}
	if logs != nil {
		out = logs
	}
	return oauthsdk.New(gw.URL, oauthsdk.WithAPIKey("nx_test_key"),
		oauthsdk.WithHTTPClient(&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}),
		oauthsdk.WithRetry(oauthsdk.RetryPolicy{MaxRetries: 0}),
		oauthsdk.WithLogger(slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug}))))
}

// run starts MaintainWebSocket in a goroutine; the returned channel gets its result.
func run(ctx context.Context, client *oauthsdk.Client, url string, h Handler, opts ...Option) <-chan error {
	done := make(chan error, 1)
	cache := oauthsdk.NewTokenCache(0)
	go func() { done <- MaintainWebSocket(ctx, client, cache, "ws_1", "feed", url, h, opts...) }()
	return done
}

// within waits for a value on ch, failing the test after d.
func within[T any](t *testing.T, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("timed out after %v waiting for %s", d, what)
		var zero T
		return zero
	}
}

// fastOptions are small timings for tests.
func fastOptions() []Option {
	return []Option{WithBackoff(20*time.Millisecond, 200*time.Millisecond), WithStableAfter(time.Hour)}
}
