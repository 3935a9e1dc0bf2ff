package oauthsdk

// Provider-side early revocation through the transport, against the real stack (`nexus dev`),
// the testkit OAuth provider and the testkit echo upstream, which accepts exactly the access
// tokens the provider says are active (introspection). The same scenario as
// bindings-node/test/revocation.test.mjs.
//
// The provider revokes every access token before its expiry (a password change). Two requests
// carry the cached, now dead token and are answered 401. A gate in front of the echo holds the
// second 401 until the first request's retry has succeeded, so the second request asks for a
// replacement only after the first got one: it must reuse it. The provider sees exactly one
// refresh, and both requests end in 200. Skipped without the binaries unless
// NEXUS_REQUIRE_STACK=1.

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

type oauthAnnouncement struct {
	URL                   string `json:"url"`
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	TokenEndpoint         string `json:"token_endpoint"`
	ClientID              string `json:"client_id"`
	ClientSecret          string `json:"client_secret"`
}

func TestEarlyRevocationAgainstNexusDev(t *testing.T) {
	nexusBin := binaryPath(t, "NEXUS_BIN", "../target/debug/nexus")
	testkitBin := binaryPath(t, "NEXUS_TESTKIT_BIN", "../target/debug/nexus-testkit")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	echoURL := startEcho(t, testkitBin)
	var oauth oauthAnnouncement
	startTestkit(t, testkitBin, "oauth", &oauth)
	env := startNexusDev(t, nexusBin)
	admin := adminClient{t: t, base: env["NEXUS_BROKER_URL"], token: env["NEXUS_ADMIN_TOKEN"]}
	ws := env["NEXUS_WORKSPACE_ID"]

	// An OAuth provider at the testkit, and a connection imported from a refresh token.
	admin.post("/admin/v1/providers", map[string]any{
		"name": "github", "auth_type": "oauth2", "client_id": oauth.ClientID, "client_secret": oauth.ClientSecret,
		"auth_url": oauth.AuthorizationEndpoint, "token_url": oauth.TokenEndpoint,
		"api_base_url": echoURL, "scopes": []string{"repo"},
	}, nil)
	var tokens struct {
		RefreshToken string `json:"refresh_token"`
	}
	postJSON(t, oauth.URL+"/_control/issue", "", map[string]any{"scopes": []string{"repo"}}, &tokens)
	admin.post("/admin/v1/workspaces/"+ws+"/connections/import",
		map[string]any{"provider_name": "github", "kind": "refresh_token", "secret": tokens.RefreshToken}, nil)
	postJSON(t, echoURL+"/_control/require", "",
		map[string]any{"kind": "oauth_token", "introspection_url": oauth.URL + "/introspect", "scope": "repo"}, nil)
	gate := startRejectionGate(t, echoURL)

	nexus := New(env["NEXUS_GATEWAY_URL"], WithAPIKey(env["NEXUS_API_KEY"]))
	client := nexus.AuthenticatedHTTPClient(NewTokenCache(30*time.Second), ws, "github")
	get := func(query string) int {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, gate.URL+"/user?"+query, nil)
		if err != nil {
			t.Error(err)
			return 0
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Errorf("request %s: %v", query, err)
			return 0
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	refreshes := func() int {
		var stats struct {
			RefreshTokenRequests int `json:"refresh_token_requests"`
		}
		getJSON(t, oauth.URL+"/_control/stats", &stats)
		return stats.RefreshTokenRequests
	}

	if status := get("n=warm"); status != http.StatusOK {
		t.Fatalf("before the revocation the upstream answered %d", status)
	}
	before := refreshes()
	var revoked struct {
		Revoked int `json:"revoked"`
	}
	postJSON(t, oauth.URL+"/_control/revoke-access-tokens", "", map[string]any{}, &revoked)
	if revoked.Revoked < 1 {
		t.Fatalf("revoke-access-tokens revoked %d tokens", revoked.Revoked)
	}
	gate.arm()

	statuses := make([]int, 2)
	var wg sync.WaitGroup
	for i, query := range []string{"n=a", "n=b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = get(query)
		}()
	}
	wg.Wait()
	if statuses[0] != http.StatusOK || statuses[1] != http.StatusOK {
		t.Fatalf("after the revocation the requests ended in %v, want 200 200", statuses)
	}
	if n := gate.rejections(); n != 2 {
		t.Fatalf("%d requests carried the revoked token, want 2", n)
	}
	if n := refreshes() - before; n != 1 {
		t.Fatalf("%d refreshes at the provider, want exactly 1", n)
	}
	// The replacement is cached: no further refresh.
	if status := get("n=after"); status != http.StatusOK || refreshes()-before != 1 {
		t.Fatalf("the next request answered %d after %d refreshes", status, refreshes()-before)
	}
}

// rejectionGate is a loopback proxy in front of the echo. Once armed, the first 401 is released
// when a second request has been rejected too, and the second only once a request succeeded:
// the order the test needs, enforced by events, not by timing.
type rejectionGate struct {
	*httptest.Server
	mu           sync.Mutex
	armed        bool
	rejected     int
	bothRejected chan struct{}
	oneSucceeded chan struct{}
	succeeded    sync.Once
}

func startRejectionGate(t *testing.T, upstreamURL string) *rejectionGate {
	t.Helper()
	g := &rejectionGate{bothRejected: make(chan struct{}), oneSucceeded: make(chan struct{})}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out, err := http.NewRequestWithContext(r.Context(), http.MethodGet, upstreamURL+r.URL.RequestURI(), nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		out.Header.Set("Authorization", r.Header.Get("Authorization"))
		resp, err := http.DefaultClient.Do(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		g.hold(r.Context(), resp.StatusCode)
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(body)
	}))
	t.Cleanup(g.Close)
	return g
}

// hold delays an answer of status as the gate's order requires.
func (g *rejectionGate) hold(ctx context.Context, status int) {
	g.mu.Lock()
	armed := g.armed
	var wait chan struct{}
	switch {
	case armed && status == http.StatusUnauthorized:
		g.rejected++
		switch g.rejected {
		case 1:
			wait = g.bothRejected
		case 2:
			close(g.bothRejected)
			wait = g.oneSucceeded
		}
	case armed && status == http.StatusOK:
		g.succeeded.Do(func() { close(g.oneSucceeded) })
	}
	g.mu.Unlock()
	if wait != nil {
		select {
		case <-wait:
		case <-ctx.Done():
		}
	}
}

func (g *rejectionGate) arm() {
	g.mu.Lock()
	g.armed = true
	g.mu.Unlock()
}

func (g *rejectionGate) rejections() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.rejected
}

// getJSON decodes the 200 JSON answer of a GET into out.
func getJSON(t *testing.T, url string, out any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}
