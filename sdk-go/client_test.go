package oauthsdk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func TestResolveTokenSendsTheProtocolRequest(t *testing.T) {
	g := newFakeGateway(t)
	nexus, _ := newTestClient(g)
	cred, err := nexus.ResolveToken(context.Background(), "ws 1", "git/hub", MinTTL(90*time.Second), ForceRefresh())
	if err != nil {
		t.Fatal(err)
	}
	r, _ := g.lastRequest()
	if r.Method != http.MethodGet || r.URL.Path != "/v1/resolve" {
		t.Fatalf("got %s %s", r.Method, r.URL.Path)
	}
	q := r.URL.Query()
	if q.Get("workspace_id") != "ws 1" || q.Get("provider_name") != "git/hub" || q.Get("min_ttl") != "90" ||
		q.Get("force_refresh") != "true" {
		t.Fatalf("query %v", q)
	}
	if got := r.Header.Get("Authorization"); got != "Bearer nx_test_key" {
		t.Fatalf("Authorization %q", got)
	}
	if cred.AccessToken.Reveal() != "token-1" || cred.Strategy.Type != "oauth2" || cred.Scopes[0] != "repo" {
		t.Fatalf("credential %+v", cred)
	}
	if ttl := cred.TTL(time.Now()); ttl <= 3590*time.Second || ttl > 3600*time.Second {
		t.Fatalf("ttl %v", ttl)
	}
}

func TestRetriesOn5xxWithFullJitterBackoff(t *testing.T) {
	for _, status := range []int{502, 503, 504} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			g := newFakeGateway(t)
			g.handle = func(w http.ResponseWriter, r *http.Request, n int64) {
				if n <= 2 {
					writeError(w, status, CodeUpstreamUnavailable, "try later")
					return
				}
				writeResolve(w, "oauth2", nil, map[string]any{"access_token": "ok"}, 60)
			}
			policy := RetryPolicy{MaxRetries: 2, BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}
			nexus, rec := newTestClient(g, WithRetry(policy))
			cred, err := nexus.ResolveToken(context.Background(), "ws", "p")
			if err != nil {
				t.Fatal(err)
			}
			if v, _ := cred.Field("access_token"); v.Reveal() != "ok" {
				t.Fatal("wrong credential")
			}
			delays := rec.recorded()
			if g.total.Load() != 3 || len(delays) != 2 {
				t.Fatalf("calls %d, sleeps %v", g.total.Load(), delays)
			}
			for i, d := range delays {
				if ceiling := policy.BaseDelay << i; d < 0 || d > ceiling {
					t.Errorf("delay %d = %v, outside [0, %v]", i, d, ceiling)
				}
			}
		})
	}
}

func TestGivesUpAfterMaxAttempts(t *testing.T) {
	g := newFakeGateway(t)
	g.handle = func(w http.ResponseWriter, r *http.Request, _ int64) {
		writeError(w, http.StatusServiceUnavailable, CodeUpstreamUnavailable, "down")
	}
	nexus, rec := newTestClient(g, WithRetry(RetryPolicy{MaxRetries: 3}))
	_, err := nexus.ResolveToken(context.Background(), "ws", "p")
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeUpstreamUnavailable || e.StatusCode != 503 {
		t.Fatalf("got %v", err)
	}
	if g.total.Load() != 4 || len(rec.recorded()) != 3 {
		t.Fatalf("calls %d, sleeps %d", g.total.Load(), len(rec.recorded()))
	}
}

func TestRequestConnectionIsNotRetriedOn5xxButRefreshIs(t *testing.T) {
	g := newFakeGateway(t)
	g.handle = func(w http.ResponseWriter, r *http.Request, _ int64) {
		writeError(w, http.StatusBadGateway, CodeUpstreamUnavailable, "provider down")
	}
	nexus, _ := newTestClient(g)
	_, err := nexus.RequestConnection(context.Background(), ConnectionRequest{UserID: "u", ProviderName: "github"})
	if errorCode(err) != CodeUpstreamUnavailable || g.total.Load() != 1 {
		t.Fatalf("request-connection: err %v after %d calls", err, g.total.Load())
	}
	_, err = nexus.RefreshConnection(context.Background(), "c1")
	if errorCode(err) != CodeUpstreamUnavailable || g.total.Load() != 1+4 {
		t.Fatalf("refresh: err %v after %d calls in all, want 1 + 4", err, g.total.Load())
	}
}

func TestTimeoutsAreNotRetried(t *testing.T) {
	g := newFakeGateway(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	g.handle = func(w http.ResponseWriter, r *http.Request, _ int64) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}
	nexus, rec := newTestClient(g, WithHTTPClient(&http.Client{Timeout: 50 * time.Millisecond}))
	_, err := nexus.ResolveToken(context.Background(), "ws", "p")
	if errorCode(err) != CodeTimeout || g.total.Load() != 1 || len(rec.recorded()) != 0 {
		t.Fatalf("err %v after %d calls", err, g.total.Load())
	}
}

func TestNeverRetriesOtherClientErrors(t *testing.T) {
	for _, tc := range []struct {
		status int
		code   string
	}{{400, CodeInvalidRequest}, {401, CodeUnauthorized}, {403, CodeForbidden}, {404, CodeProviderNotFound},
		{409, CodeReauthRequired}, {500, CodeInternalError}} {
		t.Run(tc.code, func(t *testing.T) {
			g := newFakeGateway(t)
			g.handle = func(w http.ResponseWriter, r *http.Request, _ int64) { writeError(w, tc.status, tc.code, "no") }
			nexus, rec := newTestClient(g)
			_, err := nexus.ResolveToken(context.Background(), "ws", "p")
			var e *Error
			if !errors.As(err, &e) || e.Code != tc.code || e.StatusCode != tc.status || e.RequestID != "req-"+tc.code {
				t.Fatalf("got %+v", err)
			}
			if g.total.Load() != 1 || len(rec.recorded()) != 0 {
				t.Fatalf("retried: %d calls", g.total.Load())
			}
		})
	}
}

func TestRateLimitHonoursRetryAfter(t *testing.T) {
	g := newFakeGateway(t)
	g.handle = func(w http.ResponseWriter, r *http.Request, n int64) {
		if n == 1 {
			w.Header().Set("Retry-After", "7")
			writeError(w, http.StatusTooManyRequests, CodeRateLimited, "slow down")
			return
		}
		writeResolve(w, "oauth2", nil, map[string]any{"access_token": "ok"}, 60)
	}
	nexus, rec := newTestClient(g)
	if _, err := nexus.ResolveToken(context.Background(), "ws", "p"); err != nil {
		t.Fatal(err)
	}
	if d := rec.recorded(); len(d) != 1 || d[0] != 7*time.Second {
		t.Fatalf("sleeps %v, want [7s]", d)
	}
}

func TestRateLimitBeyondMaxRetryAfterIsReturned(t *testing.T) {
	g := newFakeGateway(t)
	g.handle = func(w http.ResponseWriter, r *http.Request, _ int64) {
		w.Header().Set("Retry-After", "3600")
		writeError(w, http.StatusTooManyRequests, CodeRateLimited, "slow down")
	}
	nexus, rec := newTestClient(g)
	_, err := nexus.ResolveToken(context.Background(), "ws", "p")
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeRateLimited || e.RetryAfter != time.Hour {
		t.Fatalf("got %+v", err)
	}
	if g.total.Load() != 1 || len(rec.recorded()) != 0 {
		t.Fatal("a long Retry-After must not be slept through")
	}
}

func TestConnectErrorsAreRetriedThenTyped(t *testing.T) {
	// A port that was just free: nothing listens there.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	for _, method := range []string{"GET", "POST"} {
		t.Run(method, func(t *testing.T) {
			nexus := New("http://"+addr, WithAPIKey("k"), WithRetry(RetryPolicy{MaxRetries: 2}))
			rec := &sleepRecorder{}
			nexus.sleep = rec.sleep
			var err error
			if method == "GET" {
				_, err = nexus.ResolveToken(context.Background(), "ws", "p")
			} else {
				_, err = nexus.RefreshConnection(context.Background(), "c1")
			}
			if code := errorCode(err); code != CodeConnectionError {
				t.Fatalf("got %v (code %q)", err, code)
			}
			if len(rec.recorded()) != 2 {
				t.Fatalf("sleeps %v, want 2 retries", rec.recorded())
			}
		})
	}
}

func TestNonProtocolErrorBodyIsInvalidResponse(t *testing.T) {
	g := newFakeGateway(t)
	g.handle = func(w http.ResponseWriter, r *http.Request, _ int64) {
		w.Header().Set("X-Request-Id", "rid-7")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, "<html>oops</html>")
	}
	nexus, _ := newTestClient(g)
	_, err := nexus.ResolveToken(context.Background(), "ws", "p")
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeInvalidResponse || e.StatusCode != 500 || e.RequestID != "rid-7" {
		t.Fatalf("got %+v", err)
	}
	if strings.Contains(e.Error(), "oops") {
		t.Fatal("the body must not be copied into the message")
	}
}

func TestMalformedResolveBodyIsInvalidResponse(t *testing.T) {
	for name, body := range map[string]string{
		"not json":        `{"access_token": "secret-value-123"`,
		"no strategy":     `{"access_token": "secret-value-123"}`,
		"expires_at bool": `{"access_token": "secret-value-123", "strategy": {"type": "oauth2"}, "expires_at": true}`,
	} {
		t.Run(name, func(t *testing.T) {
			g := newFakeGateway(t)
			g.handle = func(w http.ResponseWriter, r *http.Request, _ int64) { _, _ = io.WriteString(w, body) }
			nexus, _ := newTestClient(g)
			_, err := nexus.ResolveToken(context.Background(), "ws", "p")
			if code := errorCode(err); code != CodeInvalidResponse {
				t.Fatalf("got %v", err)
			}
			if strings.Contains(err.Error(), "secret-value-123") {
				t.Fatalf("error leaks the body: %v", err)
			}
		})
	}
}

func TestConnectionLifecycle(t *testing.T) {
	g := newFakeGateway(t)
	checks := 0
	g.handle = func(w http.ResponseWriter, r *http.Request, _ int64) {
		switch {
		case r.Method == "POST" && r.URL.Path == "/v1/request-connection":
			writeJSON(w, 200, map[string]any{"authUrl": "https://github.com/login/oauth/authorize?state=s1",
				"connection_id": "c1", "state": "s1", "scopes": []string{"repo"}, "provider_id": "p1"})
		case r.Method == "GET" && r.URL.Path == "/v1/check-connection/c1":
			checks++
			status := StatusPending
			if checks >= 3 {
				status = StatusActive
			}
			writeJSON(w, 200, map[string]any{"status": status, "connection_id": "c1", "provider_name": "github"})
		case r.Method == "GET" && r.URL.Path == "/v1/token/c1":
			writeResolve(w, "oauth2", nil, map[string]any{"access_token": "by-id"}, 60)
		case r.Method == "POST" && r.URL.Path == "/v1/refresh/c1":
			writeResolve(w, "oauth2", nil, map[string]any{"access_token": "refreshed"}, 60)
		default:
			writeError(w, 404, CodeNotFound, "no route")
		}
	}
	nexus, _ := newTestClient(g)
	ctx := context.Background()

	pending, err := nexus.RequestConnection(ctx, ConnectionRequest{UserID: "u1", ProviderName: "github",
		ReturnURL: "https://app.example/done"})
	if err != nil {
		t.Fatal(err)
	}
	if pending.AuthURL == "" || pending.ConnectionID != "c1" || pending.ProviderID != "p1" {
		t.Fatalf("pending %+v", pending)
	}
	_, sent := g.lastRequest()
	var body map[string]any
	if err := json.Unmarshal([]byte(sent), &body); err != nil {
		t.Fatal(err)
	}
	if body["user_id"] != "u1" || body["provider_name"] != "github" || body["return_url"] != "https://app.example/done" {
		t.Fatalf("request body %s", sent)
	}

	status, err := nexus.WaitForActive(ctx, "c1", time.Millisecond)
	if err != nil || status.Status != StatusActive || checks != 3 {
		t.Fatalf("status %+v err %v after %d checks", status, err, checks)
	}
	tok, err := nexus.GetToken(ctx, "c1")
	if err != nil || tok.AccessToken.Reveal() != "by-id" {
		t.Fatalf("GetToken: %v", err)
	}
	tok, err = nexus.RefreshConnection(ctx, "c1")
	if err != nil || tok.AccessToken.Reveal() != "refreshed" {
		t.Fatalf("RefreshConnection: %v", err)
	}
	if _, err := nexus.CheckConnection(ctx, "missing"); errorCode(err) != CodeNotFound {
		t.Fatalf("CheckConnection(missing): %v", err)
	}
}

func TestWaitForActiveStopsOnTerminalStates(t *testing.T) {
	g := newFakeGateway(t)
	g.handle = func(w http.ResponseWriter, r *http.Request, _ int64) {
		writeJSON(w, 200, map[string]any{"status": "needs_reauth", "reauth_url": "https://nexus.example/re"})
	}
	nexus, _ := newTestClient(g)
	_, err := nexus.WaitForActive(context.Background(), "c1", time.Millisecond)
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeConnectionFailed || e.ReauthURL != "https://nexus.example/re" {
		t.Fatalf("got %+v", err)
	}
}

func TestWaitForActiveIsAbortedByItsContext(t *testing.T) {
	g := newFakeGateway(t)
	polled := make(chan struct{}, 1)
	g.handle = func(w http.ResponseWriter, r *http.Request, _ int64) {
		writeJSON(w, 200, map[string]any{"status": "pending"})
		select {
		case polled <- struct{}{}:
		default:
		}
	}
	nexus, _ := newTestClient(g)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-polled; cancel() }()
	_, err := nexus.WaitForActive(ctx, "c1", time.Hour)
	if errorCode(err) != CodeWaitAborted || !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

// TestNothingWritesToStdout runs success, retry and failure paths with debug logging on and
// checks that stdout (which belongs to an MCP server's JSON-RPC) stays empty.
func TestNothingWritesToStdout(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdout
	os.Stdout = w
	defer func() { os.Stdout = saved }()

	g := newFakeGateway(t)
	g.handle = func(rw http.ResponseWriter, req *http.Request, n int64) {
		if n%2 == 1 {
			writeError(rw, 503, CodeUpstreamUnavailable, "flaky")
			return
		}
		writeResolve(rw, "oauth2", nil, map[string]any{"access_token": "tok"}, 60)
	}
	up := newEchoUpstream(t)
	up.accept.Store("Bearer nope")
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	nexus, _ := newTestClient(g, WithLogger(logger))
	client := nexus.AuthenticatedHTTPClient(NewTokenCache(0), "ws", "p")
	if resp, err := client.Get(up.URL); err == nil {
		resp.Body.Close()
	}
	_, _ = nexus.RefreshConnection(context.Background(), "c1")
	// The default logger too (stderr).
	quiet := New(g.URL, WithRetry(RetryPolicy{MaxRetries: 1}))
	quiet.sleep = (&sleepRecorder{}).sleep
	_, _ = quiet.ResolveToken(context.Background(), "ws", "p")

	w.Close()
	out, _ := io.ReadAll(r)
	if len(out) != 0 {
		t.Fatalf("stdout got %q", out)
	}
	if !strings.Contains(logs.String(), "retrying") || strings.Contains(logs.String(), "tok\"") ||
		strings.Contains(logs.String(), "nx_test_key") {
		t.Fatalf("logs: %s", logs.String())
	}
}

func TestCredentialNeverPrintsItsValues(t *testing.T) {
	cred, err := parseCredential([]byte(`{"access_token":"gho_SECRET","strategy":{"type":"basic_auth"},
		"credentials":{"username":"alice","password":"pw_SECRET","port":8080,"ok":true,"nested":{"a":1}}}`), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "cred", cred, "token", cred.AccessToken)
	for _, s := range []string{fmt.Sprintf("%v %+v %#v %s", cred, cred, cred, cred),
		fmt.Sprintf("%v %#v", cred.AccessToken, cred.AccessToken), logs.String()} {
		if strings.Contains(s, "SECRET") {
			t.Fatalf("leak: %s", s)
		}
	}
	if v, _ := cred.Field("port"); v.Reveal() != "8080" {
		t.Errorf("numbers keep their JSON text: %q", v.Reveal())
	}
	if v, _ := cred.Field("ok"); v.Reveal() != "true" {
		t.Errorf("booleans keep their JSON text: %q", v.Reveal())
	}
	if _, ok := cred.Field("nested"); ok {
		t.Error("objects are not credential fields")
	}
	if names := strings.Join(cred.FieldNames(), ","); names != "access_token,ok,password,port,username" {
		t.Errorf("field names %s", names)
	}
}
