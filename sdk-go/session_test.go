package oauthsdk

// Agent sessions against a stand-in gateway on 127.0.0.1 (real HTTP), and the session vectors.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type sessionGateway struct {
	*httptest.Server
	expiresIn atomic.Int64
	refuse    atomic.Bool
	issued    chan time.Time // one per POST /v1/sessions
	mu        sync.Mutex
	seen      []string // "METHOD path bearer"
}

func newSessionGateway(t testing.TB) *sessionGateway {
	g := &sessionGateway{issued: make(chan time.Time, 64)}
	g.expiresIn.Store(900)
	var sessions atomic.Int64
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bearer := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		g.mu.Lock()
		g.seen = append(g.seen, r.Method+" "+r.URL.Path+" "+bearer)
		g.mu.Unlock()
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/v1/sessions":
			n := sessions.Add(1)
			g.issued <- time.Now()
			if g.refuse.Load() {
				writeError(w, 401, "unauthorized", "the agent is disabled")
				return
			}
			scopes, _ := body["scopes"].([]any)
			for _, s := range scopes {
				if s == "admin" {
					writeError(w, 403, "scope_not_allowed", "admin is not declared")
					return
				}
			}
			obo, _ := body["on_behalf_of"].(map[string]any)
			if obo != nil && obo["subject_token"] == "expired.user.jwt" {
				writeError(w, 401, "invalid_subject_token", "the user token expired")
				return
			}
			resp := map[string]any{"session_token": fmt.Sprintf("tok_%d", n), "token_type": "session",
				"session_id": fmt.Sprintf("sess_%d", n), "expires_in": g.expiresIn.Load(),
				"expires_at": "2026-11-24T12:15:00Z", "scopes": scopes, "agent_id": "agt_1", "sub": "agt_1"}
			if obo != nil {
				resp["sub"], resp["act"] = "user_1", map[string]any{"sub": "agt_1"}
			}
			writeJSON(w, 201, resp)
		case r.Method == http.MethodGet && r.URL.Path == "/v1/resolve":
			writeResolve(w, "oauth2", nil, map[string]any{"access_token": "at-" + bearer}, 3600)
		case r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, "/v1/sessions/"):
			w.WriteHeader(204)
		case r.Method == http.MethodPost && r.URL.Path == "/v1/authorize":
			switch body["scope"] {
			case "provider:github":
				writeJSON(w, 200, map[string]any{"allowed": true, "scope": "provider:github", "session_id": "sess_1"})
			case "billing:write":
				writeError(w, 403, "user_not_authorized_for_scope", "the user lacks billing:write")
			default:
				writeError(w, 403, "scope_not_allowed", "not granted")
			}
		default:
			writeError(w, 404, "not_found", "no route")
		}
	}))
	t.Cleanup(g.Close)
	return g
}

func (g *sessionGateway) requests(prefix string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, s := range g.seen {
		if strings.HasPrefix(s, prefix) {
			out = append(out, s)
		}
	}
	return out
}

const sessionTestKey = "nxk_test_SECRET"

func accessToken(t *testing.T, c *Client, cache *TokenCache) string {
	t.Helper()
	cred, err := c.GetCachedToken(context.Background(), cache, "ws_1", "github")
	if err != nil {
		t.Fatal(err)
	}
	return cred.AccessToken.Reveal()
}

func TestSessionResolvesWithItsTokenAndOwnCacheNamespace(t *testing.T) {
	g := newSessionGateway(t)
	ctx := context.Background()
	c := New(g.URL, WithAPIKey(sessionTestKey))
	cache := NewTokenCache(0)
	if got := accessToken(t, c, cache); got != "at-"+sessionTestKey {
		t.Fatalf("plain key resolve: %s", got)
	}
	s, err := c.StartSession(ctx, []string{"provider:github"}, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if s.SessionID != "sess_1" || s.Sub != "agt_1" || len(s.Scopes) != 1 {
		t.Fatalf("session: %+v", s)
	}
	if strings.Contains(fmt.Sprintf("%v %+v", s, s), "tok_1") {
		t.Fatal("the session token printed")
	}
	if got := g.requests("POST /v1/sessions"); len(got) != 1 || got[0] != "POST /v1/sessions "+sessionTestKey {
		t.Fatalf("start: %v", got)
	}
	if got := accessToken(t, c, cache); got != "at-tok_1" {
		t.Fatalf("under the session the plain key's cached token was served: %s", got)
	}
	if err := c.CloseSession(ctx); err != nil {
		t.Fatal(err)
	}
	if got := g.requests("DELETE /v1/sessions/sess_1"); len(got) != 1 || !strings.HasSuffix(got[0], " tok_1") {
		t.Fatalf("revoke: %v", got)
	}
	if got := accessToken(t, c, cache); got != "at-"+sessionTestKey {
		t.Fatalf("after close: %s", got)
	}
	if n := len(g.requests("GET /v1/resolve")); n != 2 {
		t.Fatalf("resolves: %d (the plain key's token should come from the cache again)", n)
	}
	if _, err := c.Authorize(ctx, "provider:github"); !hasCode(err, CodeInvalidRequest) {
		t.Fatalf("authorize without session: %v", err)
	}
}

func TestSessionRenewsAtEightyPercent(t *testing.T) {
	g := newSessionGateway(t)
	g.expiresIn.Store(1)
	ctx := context.Background()
	c := New(g.URL, WithAPIKey(sessionTestKey))
	defer c.CloseSession(ctx)
	started := time.Now()
	if _, err := c.StartSession(ctx, nil, 0, WithAgentCredential("nxa_agent")); err != nil {
		t.Fatal(err)
	}
	<-g.issued
	select {
	case at := <-g.issued:
		if at.Sub(started) < 800*time.Millisecond {
			t.Fatalf("renewed before 80%% of 1 s: %v", at.Sub(started))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no renewal request")
	}
	deadline := time.Now().Add(30 * time.Second)
	for c.Session().SessionID != "sess_2" {
		if time.Now().After(deadline) {
			t.Fatal("the renewed session was never installed")
		}
		time.Sleep(2 * time.Millisecond)
	}
	cred, err := c.ResolveToken(ctx, "ws_1", "github")
	if err != nil || cred.AccessToken.Reveal() != "at-tok_2" {
		t.Fatalf("resolve after renewal: %v", err)
	}
	starts := g.requests("POST /v1/sessions")
	if starts[1] != "POST /v1/sessions nxa_agent" {
		t.Fatalf("the renewal must authenticate like the start: %v", starts)
	}
}

func TestRefusedRenewalSurfacesAndStays(t *testing.T) {
	g := newSessionGateway(t)
	g.expiresIn.Store(1)
	ctx := context.Background()
	c := New(g.URL, WithAPIKey(sessionTestKey))
	if _, err := c.StartSession(ctx, nil, 0); err != nil {
		t.Fatal(err)
	}
	<-g.issued
	g.refuse.Store(true)
	select {
	case <-g.issued:
	case <-time.After(30 * time.Second):
		t.Fatal("no renewal request")
	}
	deadline := time.Now().Add(30 * time.Second)
	var err error
	for err == nil {
		_, err = c.ResolveToken(ctx, "ws_1", "github")
		if time.Now().After(deadline) {
			t.Fatal("the refusal never surfaced")
		}
	}
	if !hasCode(err, CodeUnauthorized) {
		t.Fatalf("got %v", err)
	}
	if _, err := c.Authorize(ctx, "provider:github"); !hasCode(err, CodeUnauthorized) {
		t.Fatalf("the refusal is kept: %v", err)
	}
	if n := len(g.requests("POST /v1/sessions")); n != 2 {
		t.Fatalf("a refused renewal is not retried: %d", n)
	}
	_ = c.CloseSession(ctx)
	if cred, err := c.ResolveToken(ctx, "ws_1", "github"); err != nil || cred.AccessToken.Reveal() != "at-"+sessionTestKey {
		t.Fatalf("after close: %v", err)
	}
}

func TestSessionRefusalsAreTyped(t *testing.T) {
	g := newSessionGateway(t)
	ctx := context.Background()
	c := New(g.URL, WithAPIKey(sessionTestKey))
	if _, err := c.StartSession(ctx, []string{"admin"}, 0); !hasCode(err, CodeScopeNotAllowed) {
		t.Fatalf("got %v", err)
	}
	if c.Session() != nil {
		t.Fatal("a refused start leaves no session")
	}
	_, err := c.StartSession(ctx, nil, 0, OnBehalfOf("expired.user.jwt"))
	if !hasCode(err, CodeInvalidSubjectToken) || strings.Contains(err.Error(), "expired.user.jwt") {
		t.Fatalf("got %v", err)
	}
	s, err := c.StartSession(ctx, nil, 0, OnBehalfOf("good.user.jwt"))
	if err != nil || s.Sub != "user_1" || s.Act != "agt_1" {
		t.Fatalf("OBO: %+v %v", s, err)
	}
	defer c.CloseSession(ctx)
	if ok, err := c.Authorize(ctx, "provider:github"); err != nil || !ok.Allowed {
		t.Fatalf("authorize: %v", err)
	}
	if _, err := c.Authorize(ctx, "repo:delete"); !hasCode(err, CodeScopeNotAllowed) {
		t.Fatalf("got %v", err)
	}
	if _, err := c.Authorize(ctx, "billing:write"); !hasCode(err, CodeUserNotAuthorizedForScope) {
		t.Fatalf("got %v", err)
	}
	if got := g.requests("POST /v1/authorize"); !strings.HasSuffix(got[0], " tok_3") {
		t.Fatalf("authorize must use the session token: %v", got)
	}
}

func hasCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// TestSessionVectors runs session_cases of tests/vectors/sessions.json (its ordinary cases
// run in TestVectors).
func TestSessionVectors(t *testing.T) {
	raw, err := os.ReadFile("../tests/vectors/sessions.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		SessionCases []struct {
			Name          string          `json:"name"`
			Session       json.RawMessage `json:"session"`
			ExpectSession map[string]any  `json:"expect_session"`
			ExpectError   string          `json:"expect_error"`
		} `json:"session_cases"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil || len(doc.SessionCases) < 5 {
		t.Fatalf("session_cases: %v", err)
	}
	for _, vc := range doc.SessionCases {
		t.Run(vc.Name, func(t *testing.T) {
			body := []byte(vc.Session)
			var text string
			if json.Unmarshal(body, &text) == nil {
				body = []byte(text)
			}
			s, err := parseSession(body)
			if vc.ExpectError != "" {
				if !hasCode(err, vc.ExpectError) {
					t.Fatalf("want %s, got %v", vc.ExpectError, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var act any
			if s.Act != "" {
				act = s.Act
			}
			scopes := make([]any, len(s.Scopes))
			for i, x := range s.Scopes {
				scopes[i] = x
			}
			got := map[string]any{"session_id": s.SessionID, "expires_in": float64(s.ExpiresIn),
				"scopes": scopes, "agent_id": s.AgentID, "sub": s.Sub, "act": act,
				"renew_after_ms": float64(renewalDelay(s.ExpiresIn).Milliseconds())}
			if fmt.Sprint(got) != fmt.Sprint(vc.ExpectSession) {
				t.Fatalf("got %v\nwant %v", got, vc.ExpectSession)
			}
		})
	}
}

// BenchmarkCacheHitUnderSession: GetCachedToken on a warm cache while an agent session is
// active (compare with BenchmarkCacheHit: the session's cache namespace is part of the key).
func BenchmarkCacheHitUnderSession(b *testing.B) {
	g := newSessionGateway(b)
	ctx := context.Background()
	c := New(g.URL, WithAPIKey(sessionTestKey))
	if _, err := c.StartSession(ctx, nil, 0); err != nil {
		b.Fatal(err)
	}
	defer c.CloseSession(ctx)
	cache := NewTokenCache(0)
	if _, err := c.GetCachedToken(ctx, cache, "ws_1", "github"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.GetCachedToken(ctx, cache, "ws_1", "github"); err != nil {
			b.Fatal(err)
		}
	}
}
