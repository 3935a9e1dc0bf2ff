package oauthsdk

// The client behaviour vectors (tests/vectors/client_behaviour.json, format in
// tests/vectors/README.md): what the transport does on an upstream 401, on invalidation and
// under an agent session, against a scripted gateway and a scripted upstream, both real HTTP
// servers on 127.0.0.1. The Rust core, Python and Node run the same file.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

const behaviourVectorsFile = "../tests/vectors/client_behaviour.json"

type behaviourFile struct {
	BehaviourCases []behaviourCase `json:"behaviour_cases"`
	ErrorClasses   []errorClassRow `json:"error_classes"`
}

type behaviourCase struct {
	Name     string            `json:"name"`
	Session  json.RawMessage   `json:"session"`
	Resolves []json.RawMessage `json:"resolves"`
	Upstream []struct {
		Status int    `json:"status"`
		Body   string `json:"body"`
	} `json:"upstream"`
	Steps  []string `json:"steps"`
	Expect struct {
		ResolveCalls []resolveCall     `json:"resolve_calls"`
		UpstreamAuth []string          `json:"upstream_auth"`
		Results      []behaviourResult `json:"results"`
	} `json:"expect"`
}

// resolveCall is what the scripted gateway saw of one GET /v1/resolve.
type resolveCall struct {
	ForceRefresh  bool   `json:"force_refresh"`
	Authorization string `json:"authorization"`
}

// behaviourResult is the outcome of one "fetch" step: a response, or an error code.
type behaviourResult struct {
	Status int    `json:"status,omitempty"`
	Body   string `json:"body,omitempty"`
	Error  string `json:"error,omitempty"`
}

// errorClassRow is one line of the core's error table (code → kind → class).
type errorClassRow struct {
	Code  string `json:"code"`
	Kind  string `json:"kind"`
	Class string `json:"class"`
}

func loadBehaviourVectors(t *testing.T) behaviourFile {
	t.Helper()
	raw, err := os.ReadFile(behaviourVectorsFile)
	if err != nil {
		t.Fatalf("the client behaviour vectors are part of the repository: %v", err)
	}
	var f behaviourFile
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatalf("%s: %v", behaviourVectorsFile, err)
	}
	return f
}

func TestClientBehaviourVectors(t *testing.T) {
	f := loadBehaviourVectors(t)
	if len(f.BehaviourCases) == 0 {
		t.Fatalf("%s: no behaviour_cases", behaviourVectorsFile)
	}
	for _, bc := range f.BehaviourCases {
		t.Run(bc.Name, func(t *testing.T) { runBehaviourCase(t, bc) })
	}
}

// scriptedWorld is the gateway and the upstream of one case, and what each saw.
type scriptedWorld struct {
	gateway, upstream *httptest.Server
	mu                sync.Mutex
	resolveCalls      []resolveCall
	upstreamAuth      []string
	problems          []string
}

const (
	vectorAPIKey    = "nxk_vector_key"
	vectorWorkspace = "ws_vec"
	vectorProvider  = "github"
)

func startScriptedWorld(t *testing.T, bc behaviourCase) *scriptedWorld {
	t.Helper()
	w := &scriptedWorld{}
	var sessionToken string
	if len(bc.Session) > 0 {
		var s struct {
			SessionToken string `json:"session_token"`
		}
		if err := json.Unmarshal(bc.Session, &s); err != nil {
			t.Fatalf("session: %v", err)
		}
		sessionToken = s.SessionToken
	}
	w.gateway = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.mu.Lock()
		defer w.mu.Unlock()
		bearer := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/v1/sessions":
			rw.Header().Set("Content-Type", "application/json")
			rw.WriteHeader(http.StatusCreated)
			_, _ = rw.Write(bc.Session)
		case r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, "/v1/sessions/"):
			rw.WriteHeader(http.StatusNoContent)
		case r.Method == http.MethodGet && r.URL.Path == "/v1/resolve":
			who := "unknown"
			switch bearer {
			case vectorAPIKey:
				who = "api_key"
			case sessionToken:
				who = "session"
			}
			n := len(w.resolveCalls)
			w.resolveCalls = append(w.resolveCalls, resolveCall{
				ForceRefresh:  r.URL.Query().Get("force_refresh") == "true",
				Authorization: who,
			})
			if n >= len(bc.Resolves) {
				w.problems = append(w.problems, "more resolve calls than scripted")
				writeJSON(rw, http.StatusInternalServerError, map[string]any{"error": "internal_error", "message": "unscripted"})
				return
			}
			writeScriptedResolve(rw, bc.Resolves[n])
		default:
			w.problems = append(w.problems, "unexpected gateway call "+r.Method+" "+r.URL.Path)
			writeJSON(rw, http.StatusNotFound, map[string]any{"error": "not_found", "message": "no route"})
		}
	}))
	t.Cleanup(w.gateway.Close)
	w.upstream = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.mu.Lock()
		defer w.mu.Unlock()
		n := len(w.upstreamAuth)
		w.upstreamAuth = append(w.upstreamAuth, r.Header.Get("Authorization"))
		if n >= len(bc.Upstream) {
			w.problems = append(w.problems, "more upstream calls than scripted")
			rw.WriteHeader(http.StatusInternalServerError)
			return
		}
		rw.WriteHeader(bc.Upstream[n].Status)
		_, _ = io.WriteString(rw, bc.Upstream[n].Body)
	}))
	t.Cleanup(w.upstream.Close)
	return w
}

// writeScriptedResolve sends one scripted resolve answer: a 200 body, or
// {"resolve_error": {status, headers, body}}.
func writeScriptedResolve(rw http.ResponseWriter, raw json.RawMessage) {
	var scripted struct {
		ResolveError *vectorError `json:"resolve_error"`
	}
	_ = json.Unmarshal(raw, &scripted)
	status, body := http.StatusOK, []byte(raw)
	if scripted.ResolveError != nil {
		var header http.Header
		header, body = scripted.ResolveError.response()
		for name, values := range header {
			rw.Header()[name] = values
		}
		status = scripted.ResolveError.Status
	}
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(status)
	_, _ = rw.Write(body)
}

func runBehaviourCase(t *testing.T, bc behaviourCase) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w := startScriptedWorld(t, bc)
	// No retries: a scripted gateway error must reach the caller as it is, in one call.
	nexus := New(w.gateway.URL, WithAPIKey(vectorAPIKey), WithRetry(RetryPolicy{MaxRetries: 0}))
	t.Cleanup(func() { _ = nexus.CloseSession(context.Background()) })
	cache := NewTokenCache(30 * time.Second)
	client := nexus.AuthenticatedHTTPClient(cache, vectorWorkspace, vectorProvider)

	var results []behaviourResult
	for i, step := range bc.Steps {
		switch step {
		case "fetch":
			results = append(results, behaviourFetch(ctx, t, client, w.upstream.URL+"/resource"))
		case "invalidate":
			nexus.InvalidateCachedToken(cache, vectorWorkspace, vectorProvider)
		case "start_session":
			if _, err := nexus.StartSession(ctx, nil, 0); err != nil {
				t.Fatalf("step %d start_session: %v", i, err)
			}
		case "end_session":
			if err := nexus.CloseSession(ctx); err != nil {
				t.Fatalf("step %d end_session: %v", i, err)
			}
		default:
			t.Fatalf("step %d: unknown step %q (the Go runner must learn it)", i, step)
		}
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range w.problems {
		t.Error(p)
	}
	assertJSONEqual(t, "resolve_calls", w.resolveCalls, bc.Expect.ResolveCalls)
	assertJSONEqual(t, "upstream_auth", w.upstreamAuth, bc.Expect.UpstreamAuth)
	assertJSONEqual(t, "results", results, bc.Expect.Results)
}

// behaviourFetch sends one GET through the authenticated client and reads the outcome.
func behaviourFetch(ctx context.Context, t *testing.T, client *http.Client, url string) behaviourResult {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("fetch failed without a typed error: %v", err)
		}
		return behaviourResult{Error: e.Code}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return behaviourResult{Status: resp.StatusCode, Body: string(body)}
}

// assertJSONEqual compares through JSON, so nil and empty lists are the same.
func assertJSONEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	g, _ := json.Marshal(got)
	wnt, _ := json.Marshal(want)
	if string(g) == "null" {
		g = []byte("[]")
	}
	if string(wnt) == "null" {
		wnt = []byte("[]")
	}
	if string(g) != string(wnt) {
		t.Errorf("%s:\n got  %s\n want %s", what, g, wnt)
	}
}

// TestErrorTableVectors checks the code → kind half of the core's error table (Go has one error
// type, so the class column is the other SDKs'): a gateway envelope keeps its code as KindAPI,
// and the SDK's own codes have the table's kind.
func TestErrorTableVectors(t *testing.T) {
	f := loadBehaviourVectors(t)
	if len(f.ErrorClasses) == 0 {
		t.Fatalf("%s: no error_classes", behaviourVectorsFile)
	}
	for _, row := range f.ErrorClasses {
		t.Run(row.Code+"/"+row.Kind, func(t *testing.T) {
			var e *Error
			if row.Kind == KindAPI {
				body, _ := json.Marshal(map[string]string{"error": row.Code, "message": "m"})
				e = errorFromResponse(http.StatusBadRequest, nil, body)
			} else {
				e = &Error{Code: row.Code, Message: "m"}
			}
			if e.Code != row.Code || e.Kind() != row.Kind {
				t.Errorf("code %q kind %q, want %q %q", e.Code, e.Kind(), row.Code, row.Kind)
			}
		})
	}
}
