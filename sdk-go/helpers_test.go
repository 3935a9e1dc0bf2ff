package oauthsdk

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeGateway is a real HTTP server on 127.0.0.1 that speaks the gateway's protocol and counts
// what it receives. handle decides each resolve answer; the default hands out "token-N" for
// the N-th resolve with the oauth2 strategy.
type fakeGateway struct {
	*httptest.Server
	resolves atomic.Int64
	forced   atomic.Int64
	mu       sync.Mutex
	requests []*http.Request // every request, body read into bodies
	bodies   []string
	// handle answers one request; n is its 1-based number among all requests.
	handle func(w http.ResponseWriter, r *http.Request, n int64)
	total  atomic.Int64
}

func newFakeGateway(t testing.TB) *fakeGateway {
	t.Helper()
	g := &fakeGateway{}
	g.handle = func(w http.ResponseWriter, r *http.Request, _ int64) {
		writeResolve(w, "oauth2", nil, map[string]any{"access_token": "token-" + itoa(g.resolves.Load())}, 3600)
	}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		g.mu.Lock()
		g.requests = append(g.requests, r)
		g.bodies = append(g.bodies, string(body))
		g.mu.Unlock()
		if r.URL.Path == "/v1/resolve" {
			g.resolves.Add(1)
			if r.URL.Query().Get("force_refresh") == "true" {
				g.forced.Add(1)
			}
		}
		g.handle(w, r, g.total.Add(1))
	}))
	t.Cleanup(g.Close)
	return g
}

// lastRequest returns the most recent request and its body.
func (g *fakeGateway) lastRequest() (*http.Request, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.requests) == 0 {
		return nil, ""
	}
	return g.requests[len(g.requests)-1], g.bodies[len(g.bodies)-1]
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// writeResolve answers a resolve request with a strategy, credentials and expires_in.
func writeResolve(w http.ResponseWriter, strategy string, config map[string]any, credentials map[string]any, expiresIn int64) {
	body := map[string]any{
		"token_type":  "Bearer",
		"expires_in":  expiresIn,
		"strategy":    map[string]any{"type": strategy, "config": config},
		"credentials": credentials,
		"scopes":      []string{"repo"},
	}
	if tok, ok := credentials["access_token"]; ok {
		body["access_token"] = tok
	}
	writeJSON(w, http.StatusOK, body)
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{"error": code, "message": message, "request_id": "req-" + code})
}

// echoUpstream is a stand-in for an upstream API on 127.0.0.1: it answers 401 unless the
// Authorization header equals accept (when set), and echoes what it received.
type echoUpstream struct {
	*httptest.Server
	calls  atomic.Int64
	accept atomic.Value // string; "" accepts everything
	mu     sync.Mutex
	seen   []echoed
}

type echoed struct {
	Method        string      `json:"method"`
	URL           string      `json:"url"`
	Header        http.Header `json:"header"`
	Body          string      `json:"body"`
	Authorization string      `json:"authorization"`
}

func newEchoUpstream(t testing.TB) *echoUpstream {
	t.Helper()
	u := &echoUpstream{}
	u.accept.Store("")
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		e := echoed{Method: r.Method, URL: r.URL.String(), Header: r.Header, Body: string(body),
			Authorization: r.Header.Get("Authorization")}
		u.mu.Lock()
		u.seen = append(u.seen, e)
		u.mu.Unlock()
		if want := u.accept.Load().(string); want != "" && r.Header.Get("Authorization") != want {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
			return
		}
		writeJSON(w, http.StatusOK, e)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *echoUpstream) requests() []echoed {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]echoed(nil), u.seen...)
}

// newTestClient builds a client for g whose retries do not really sleep: the delays are
// recorded instead.
func newTestClient(g *fakeGateway, opts ...Option) (*Client, *sleepRecorder) {
	c := New(g.URL, append([]Option{WithAPIKey("nx_test_key")}, opts...)...)
	rec := &sleepRecorder{}
	c.sleep = rec.sleep
	return c, rec
}

type sleepRecorder struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (r *sleepRecorder) sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	r.delays = append(r.delays, d)
	r.mu.Unlock()
	return ctx.Err()
}

func (r *sleepRecorder) recorded() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.delays...)
}
