package oauthsdk

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestColdCacheThousandGoroutinesMakeOneGatewayCall(t *testing.T) {
	g := newFakeGateway(t)
	up := newEchoUpstream(t)
	up.accept.Store("Bearer token-1")
	release := make(chan struct{})
	g.handle = func(w http.ResponseWriter, r *http.Request, _ int64) {
		<-release // hold the first resolve until every goroutine has started
		writeResolve(w, "oauth2", nil, map[string]any{"access_token": "token-" + itoa(g.resolves.Load())}, 3600)
	}
	nexus, _ := newTestClient(g)
	cache := NewTokenCache(30 * time.Second)
	client := nexus.AuthenticatedHTTPClient(cache, "ws1", "github")

	const n = 1000
	var started, done sync.WaitGroup
	started.Add(n)
	done.Add(n)
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			defer done.Done()
			started.Done()
			resp, err := client.Get(up.URL + "/user/repos")
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			_, _ = io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != http.StatusOK {
				errs <- errors.New(resp.Status)
			}
		}()
	}
	started.Wait()
	close(release)
	done.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("request failed: %v", err)
	}
	if got := g.resolves.Load(); got != 1 {
		t.Fatalf("gateway resolves: got %d, want 1", got)
	}
	if got := up.calls.Load(); got != n {
		t.Fatalf("upstream calls: got %d, want %d", got, n)
	}
}

func TestUpstream401ForcesRefreshAndRetriesOnce(t *testing.T) {
	g := newFakeGateway(t)
	up := newEchoUpstream(t)
	up.accept.Store("Bearer token-2") // the first token was revoked upstream
	nexus, _ := newTestClient(g)
	cache := NewTokenCache(30 * time.Second)
	client := nexus.AuthenticatedHTTPClient(cache, "ws1", "github")

	resp, err := client.Post(up.URL+"/items", "application/json", strings.NewReader(`{"x":1}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200 after the retry", resp.StatusCode)
	}
	if g.resolves.Load() != 2 || g.forced.Load() != 1 {
		t.Fatalf("gateway: %d resolves (%d forced), want 2 (1 forced)", g.resolves.Load(), g.forced.Load())
	}
	seen := up.requests()
	if len(seen) != 2 {
		t.Fatalf("upstream saw %d requests, want 2", len(seen))
	}
	for i, want := range []string{"Bearer token-1", "Bearer token-2"} {
		if seen[i].Authorization != want || seen[i].Body != `{"x":1}` {
			t.Errorf("attempt %d: auth %q body %q", i+1, seen[i].Authorization, seen[i].Body)
		}
	}
	// The refreshed credential is what the cache serves now: no further gateway call.
	resp2, err := client.Get(up.URL + "/again")
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusOK || g.resolves.Load() != 2 {
		t.Fatalf("second call: status %d, resolves %d", resp2.StatusCode, g.resolves.Load())
	}
}

func TestUpstream401IsRetriedOnlyOnce(t *testing.T) {
	g := newFakeGateway(t)
	up := newEchoUpstream(t)
	up.accept.Store("Bearer never-issued")
	nexus, _ := newTestClient(g)
	client := nexus.AuthenticatedHTTPClient(NewTokenCache(0), "ws1", "github")

	resp, err := client.Get(up.URL + "/user")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d, want the upstream's 401", resp.StatusCode)
	}
	if up.calls.Load() != 2 || g.resolves.Load() != 2 {
		t.Fatalf("upstream calls %d, resolves %d; want 2 and 2", up.calls.Load(), g.resolves.Load())
	}
}

// oneShotBody is a request body that cannot be replayed (http.NewRequest sets no GetBody).
type oneShotBody struct{ io.Reader }

func TestUpstream401WithUnreplayableBodyIsNotRetried(t *testing.T) {
	g := newFakeGateway(t)
	up := newEchoUpstream(t)
	up.accept.Store("Bearer token-2")
	nexus, _ := newTestClient(g)
	client := nexus.AuthenticatedHTTPClient(NewTokenCache(0), "ws1", "github")

	req, err := http.NewRequest(http.MethodPost, up.URL+"/upload", oneShotBody{strings.NewReader("stream")})
	if err != nil {
		t.Fatal(err)
	}
	if req.GetBody != nil {
		t.Fatal("test setup: the body must not be replayable")
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401 passed through", resp.StatusCode)
	}
	if up.calls.Load() != 1 || g.forced.Load() != 0 {
		t.Fatalf("upstream calls %d, forced refreshes %d; want 1 and 0", up.calls.Load(), g.forced.Load())
	}
}

func TestCallersRequestIsNotMutated(t *testing.T) {
	for _, tc := range []struct {
		strategy string
		config   map[string]any
		creds    map[string]any
	}{
		{"oauth2", nil, map[string]any{"access_token": "tok"}},
		{"query_param", map[string]any{"param_name": "key"}, map[string]any{"api_key": "k1"}},
		{"hmac_payload", nil, map[string]any{"secret": "s3cr3t"}},
		{"aws_sigv4", map[string]any{"region": "eu-west-1", "service": "execute-api"},
			map[string]any{"access_key": "AK", "secret_key": "SK", "session_token": "ST"}},
	} {
		t.Run(tc.strategy, func(t *testing.T) {
			g := newFakeGateway(t)
			g.handle = func(w http.ResponseWriter, r *http.Request, _ int64) {
				writeResolve(w, tc.strategy, tc.config, tc.creds, 3600)
			}
			up := newEchoUpstream(t)
			nexus, _ := newTestClient(g)
			client := nexus.AuthenticatedHTTPClient(NewTokenCache(0), "ws1", "svc")

			req, err := http.NewRequest(http.MethodPut, up.URL+"/a/b?x=1", strings.NewReader("payload"))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Caller", "yes")
			before := req.Header.Clone()
			urlBefore, hostBefore := req.URL.String(), req.Host
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if len(req.Header) != len(before) || req.Header.Get("X-Caller") != "yes" {
				t.Errorf("caller's headers changed: %v", req.Header)
			}
			if req.URL.String() != urlBefore || req.Host != hostBefore {
				t.Errorf("caller's URL/host changed: %s %s", req.URL, req.Host)
			}
			seen := up.requests()
			if len(seen) != 1 || seen[0].Body != "payload" {
				t.Fatalf("upstream saw %+v", seen)
			}
			injected := seen[0].Authorization != "" || seen[0].Header.Get("X-Signature") != "" ||
				strings.Contains(seen[0].URL, "key=k1")
			if !injected {
				t.Errorf("the upstream request carries no credential: %+v", seen[0])
			}
		})
	}
}

func TestSignedBodyReachesUpstreamIntact(t *testing.T) {
	g := newFakeGateway(t)
	g.handle = func(w http.ResponseWriter, r *http.Request, _ int64) {
		writeResolve(w, "hmac_payload", map[string]any{"encoding": "base64"}, map[string]any{"secret": "k"}, 3600)
	}
	up := newEchoUpstream(t)
	nexus, _ := newTestClient(g)
	client := nexus.AuthenticatedHTTPClient(NewTokenCache(0), "ws1", "hooks")
	resp, err := client.Post(up.URL+"/hook", "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	seen := up.requests()
	if len(seen) != 1 || seen[0].Body != "hello" {
		t.Fatalf("upstream saw %+v", seen)
	}
	// HMAC-SHA256("k", "hello"), base64.
	if got := seen[0].Header.Get("X-Signature"); got != "QG5LQ/hwlaqGymKZ0l6HWSH++hgPAgQ7spvsVoHAwtA=" {
		t.Errorf("X-Signature %q", got)
	}
}

func TestStrategyErrorsReachTheCallerTyped(t *testing.T) {
	g := newFakeGateway(t)
	g.handle = func(w http.ResponseWriter, r *http.Request, _ int64) {
		writeResolve(w, "oauth2", nil, map[string]any{"access_token": "bad\r\nX-Injected: 1"}, 3600)
	}
	up := newEchoUpstream(t)
	nexus, _ := newTestClient(g)
	client := nexus.AuthenticatedHTTPClient(NewTokenCache(0), "ws1", "github")
	_, err := client.Get(up.URL + "/")
	if code := errorCode(err); code != CodeInvalidCredentialValue {
		t.Fatalf("got %v (code %q), want invalid_credential_value", err, code)
	}
	if strings.Contains(err.Error(), "X-Injected") {
		t.Fatalf("error leaks the credential: %v", err)
	}
	if up.calls.Load() != 0 {
		t.Fatal("an unauthenticated request went out")
	}
}

func TestGatewayErrorReachesTheCallerTyped(t *testing.T) {
	g := newFakeGateway(t)
	g.handle = func(w http.ResponseWriter, r *http.Request, _ int64) {
		writeJSON(w, http.StatusConflict, map[string]any{"error": "reauth_required", "message": "authorize again",
			"request_id": "req-9", "reauth_url": "https://nexus.example/reauth/c1"})
	}
	nexus, _ := newTestClient(g)
	client := nexus.AuthenticatedHTTPClient(NewTokenCache(0), "ws1", "github")
	_, err := client.Get("http://127.0.0.1:1/never-called")
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %T %v", err, err)
	}
	if e.Code != CodeReauthRequired || e.StatusCode != 409 || e.RequestID != "req-9" ||
		e.ReauthURL != "https://nexus.example/reauth/c1" {
		t.Fatalf("got %+v", e)
	}
}

func TestTransportComposesWithABaseRoundTripper(t *testing.T) {
	g := newFakeGateway(t)
	up := newEchoUpstream(t)
	nexus, _ := newTestClient(g)
	var sawAuth string
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sawAuth = r.Header.Get("Authorization")
		return http.DefaultTransport.RoundTrip(r)
	})
	client := &http.Client{Transport: nexus.NewAuthenticatedTransport(NewTokenCache(0), "ws1", "github", base)}
	resp, err := client.Get(up.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if sawAuth != "Bearer token-1" {
		t.Fatalf("base transport saw Authorization %q", sawAuth)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestCancelledContextStopsTheRequest(t *testing.T) {
	g := newFakeGateway(t)
	arrived := make(chan struct{}, 1)
	block := make(chan struct{})
	g.handle = func(w http.ResponseWriter, r *http.Request, _ int64) {
		arrived <- struct{}{}
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}
	t.Cleanup(func() { close(block) })
	nexus, _ := newTestClient(g)
	client := nexus.AuthenticatedHTTPClient(NewTokenCache(0), "ws1", "github")
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:1/", nil)
	go func() {
		<-arrived // cancel once the gateway has the resolve in hand
		cancel()
	}()
	_, err := client.Do(req)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func TestCredentialDoesNotFollowARedirectToAnotherOrigin(t *testing.T) {
	g := newFakeGateway(t)
	elsewhere := newEchoUpstream(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, elsewhere.URL+"/landing", http.StatusFound)
		case "/same":
			http.Redirect(w, r, "/final", http.StatusFound)
		default:
			writeJSON(w, http.StatusOK, map[string]string{"authorization": r.Header.Get("Authorization")})
		}
	}))
	defer up.Close()
	nexus, _ := newTestClient(g)
	client := nexus.AuthenticatedHTTPClient(NewTokenCache(0), "ws", "github")

	resp, err := client.Get(up.URL + "/away")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if seen := elsewhere.requests(); len(seen) != 1 || seen[0].Authorization != "" {
		t.Fatalf("the other origin saw %+v", seen)
	}

	resp, err = client.Get(up.URL + "/same")
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if body["authorization"] != "Bearer token-1" {
		t.Fatalf("a same-origin redirect lost the credential: %v", body)
	}
}
