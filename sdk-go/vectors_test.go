package oauthsdk

// The shared conformance vectors (tests/vectors/*.json, format in tests/vectors/README.md).
// Every file present is run; the Rust core (and through it Python and Node) runs the same
// files, so a behaviour change in one language fails CI until the others follow.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const vectorsGlob = "../tests/vectors/*.json"

// defaultVectorNow is the clock of a case without "now".
const defaultVectorNow = "2026-11-24T12:00:00Z"

type vectorFile struct {
	Description string       `json:"description"`
	Cases       []vectorCase `json:"cases"`
	// BehaviourCases are run by TestClientBehaviourVectors (behaviour_vectors_test.go).
	BehaviourCases []json.RawMessage `json:"behaviour_cases"`
}

type vectorCase struct {
	Name              string                     `json:"name"`
	Now               string                     `json:"now"`
	Resolve           json.RawMessage            `json:"resolve"`
	ResolveError      *vectorError               `json:"resolve_error"`
	Request           *vectorRequest             `json:"request"`
	Expect            *vectorExpect              `json:"expect"`
	ExpectError       *string                    `json:"expect_error"`
	ExpectErrorFields map[string]json.RawMessage `json:"expect_error_fields"`
}

// vectorError is a gateway error answer: status, headers, and a body that is JSON or (when a
// JSON string) the raw text sent.
type vectorError struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

func (ve *vectorError) response() (http.Header, []byte) {
	header := http.Header{}
	for k, v := range ve.Headers {
		header.Set(k, v)
	}
	body := []byte(ve.Body)
	var text string
	if len(body) > 0 && body[0] == '"' && json.Unmarshal(body, &text) == nil {
		body = []byte(text)
	}
	return header, body
}

// defaultVectorRequest is the request of a case without one (as in the Rust runner).
var defaultVectorRequest = vectorRequest{Method: "GET", URL: "https://api.example.com/v1/resource"}

type vectorRequest struct {
	Method     string          `json:"method"`
	URL        string          `json:"url"`
	Headers    json.RawMessage `json:"headers"`
	Body       *string         `json:"body"`
	BodyBase64 *string         `json:"body_base64"`
}

type vectorExpect struct {
	Headers    map[string]string `json:"headers"`
	URL        *string           `json:"url"`
	TTLSeconds *int64            `json:"ttl_seconds"`
}

func TestVectors(t *testing.T) {
	files, err := filepath.Glob(vectorsGlob)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		// The vectors are part of the repository: finding none means the runner looks in the
		// wrong place, which must not pass silently.
		t.Fatalf("no vector files match %s", vectorsGlob)
	}
	total := 0
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var vf vectorFile
		if err := json.Unmarshal(raw, &vf); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if len(vf.Cases) == 0 && len(vf.BehaviourCases) == 0 {
			t.Errorf("%s: no cases", file)
		}
		seen := map[string]bool{}
		for _, vc := range vf.Cases {
			if seen[vc.Name] {
				t.Errorf("%s: duplicate case name %q", file, vc.Name)
			}
			seen[vc.Name] = true
			total++
			t.Run(strings.TrimSuffix(filepath.Base(file), ".json")+"/"+vc.Name, func(t *testing.T) {
				runVectorCase(t, vc)
			})
		}
	}
	t.Logf("%d vector files, %d cases", len(files), total)
}

func runVectorCase(t *testing.T, vc vectorCase) {
	if (vc.Expect == nil) == (vc.ExpectError == nil) {
		t.Fatal("case must have exactly one of expect / expect_error")
	}
	hasResolve := len(vc.Resolve) > 0 && string(vc.Resolve) != "null"
	if hasResolve == (vc.ResolveError != nil) {
		t.Fatal("case must have exactly one of resolve / resolve_error")
	}
	nowText := vc.Now
	if nowText == "" {
		nowText = defaultVectorNow
	}
	now, err := time.Parse(time.RFC3339Nano, nowText)
	if err != nil {
		t.Fatalf("bad now %q: %v", nowText, err)
	}

	req, result := evaluateVector(t, vc, now, hasResolve)
	if vc.ExpectError != nil {
		var e *Error
		if !errors.As(result.err, &e) {
			t.Fatalf("expected error %q, got %v", *vc.ExpectError, result.err)
		}
		if e.Code != *vc.ExpectError {
			t.Fatalf("expected error %q, got %q (%v)", *vc.ExpectError, e.Code, e)
		}
		checkErrorFields(t, e, vc.ExpectErrorFields)
		assertNoSecretInError(t, e, vc)
		return
	}
	if result.err != nil {
		t.Fatalf("unexpected error: %v", result.err)
	}
	if vc.Expect.TTLSeconds != nil {
		got := int64(result.cred.TTL(now) / time.Second)
		if got != *vc.Expect.TTLSeconds {
			t.Errorf("ttl_seconds: got %d, want %d", got, *vc.Expect.TTLSeconds)
		}
	}
	for name, want := range vc.Expect.Headers {
		// The exact map key: injected names are sent as declared (X-API-Key, not X-Api-Key).
		got := req.out.Header[name]
		if len(got) != 1 || got[0] != want {
			t.Errorf("header %s: got %q, want %q", name, got, want)
		}
	}
	// Headers not listed must not be added or changed.
	for name, values := range req.out.Header {
		if _, listed := lookupFold(vc.Expect.Headers, name); listed {
			continue
		}
		if !equalStrings(values, req.in.Values(name)) {
			t.Errorf("header %s added or changed but not expected: %q", name, values)
		}
	}
	if vc.Expect.URL != nil {
		if got := req.out.URL.String(); got != *vc.Expect.URL {
			t.Errorf("url: got %q, want %q", got, *vc.Expect.URL)
		}
	} else if got := req.out.URL.String(); got != req.originalURL {
		t.Errorf("url changed to %q without expect.url", got)
	}
}

// vectorRequestState is the request before (in) and after (out) injection.
type vectorRequestState struct {
	in          http.Header
	out         *http.Request
	originalURL string
}

type vectorResult struct {
	cred *Credential
	err  error
}

// evaluateVector runs the SDK on a case: the gateway answer, the strategy, the injection.
func evaluateVector(t *testing.T, vc vectorCase, now time.Time, hasResolve bool) (*vectorRequestState, vectorResult) {
	t.Helper()
	if !hasResolve {
		header, body := vc.ResolveError.response()
		return nil, vectorResult{err: errorFromResponse(vc.ResolveError.Status, header, body)}
	}
	cred, err := parseCredential(vc.Resolve, now)
	if err != nil {
		return nil, vectorResult{err: err}
	}
	strategy, err := ParseStrategy(cred.Strategy)
	if err != nil {
		return nil, vectorResult{cred: cred, err: err}
	}
	vr := vc.Request
	if vr == nil {
		vr = &defaultVectorRequest
	}
	req, body, err := buildVectorRequest(t, vr)
	if err != nil {
		return nil, vectorResult{cred: cred, err: err}
	}
	state := &vectorRequestState{in: req.Header.Clone(), out: req, originalURL: req.URL.String()}
	err = strategy.Apply(req, cred, body, now)
	return state, vectorResult{cred: cred, err: err}
}

// buildVectorRequest makes the http.Request a Go caller would have built. A URL Go cannot
// parse is the SDK's invalid_request, as in the other SDKs.
func buildVectorRequest(t *testing.T, vr *vectorRequest) (*http.Request, []byte, error) {
	t.Helper()
	var body []byte
	switch {
	case vr.BodyBase64 != nil:
		var err error
		if body, err = base64.StdEncoding.DecodeString(*vr.BodyBase64); err != nil {
			t.Fatalf("bad body_base64: %v", err)
		}
	case vr.Body != nil:
		body = []byte(*vr.Body)
	}
	u, err := url.Parse(vr.URL)
	if err != nil {
		return nil, nil, sdkError(CodeInvalidRequest, "the URL cannot be parsed")
	}
	method := vr.Method
	if method == "" {
		method = http.MethodGet
	}
	req := &http.Request{Method: method, URL: u, Host: u.Host, Header: http.Header{}}
	for _, h := range vectorHeaders(t, vr.Headers) {
		req.Header.Add(h[0], h[1])
	}
	if body != nil {
		req.Body = http.NoBody
		if len(body) > 0 {
			req.Body = readCloser{bytes.NewReader(body)}
		}
		req.ContentLength = int64(len(body))
	}
	return req, body, nil
}

// vectorHeaders accepts {"Name": "value"} or [["Name", "value"], …] (repeated names).
func vectorHeaders(t *testing.T, raw json.RawMessage) [][2]string {
	t.Helper()
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var pairs [][2]string
	if raw[0] == '[' {
		if err := json.Unmarshal(raw, &pairs); err != nil {
			t.Fatalf("bad request.headers: %v", err)
		}
		return pairs
	}
	var obj map[string]string
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Fatalf("bad request.headers: %v", err)
	}
	for k, v := range obj {
		pairs = append(pairs, [2]string{k, v})
	}
	return pairs
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// checkErrorFields compares expect_error_fields: status, request_id, reauth_url, retry_after (s).
func checkErrorFields(t *testing.T, e *Error, fields map[string]json.RawMessage) {
	t.Helper()
	for field, raw := range fields {
		var got any
		switch field {
		case "status":
			got = e.StatusCode
		case "request_id":
			got = e.RequestID
		case "reauth_url":
			got = e.ReauthURL
		case "retry_after":
			got = int64(e.RetryAfter / time.Second)
		default:
			t.Fatalf("unknown expect_error_fields key %q", field)
		}
		gotJSON, _ := json.Marshal(got)
		if string(gotJSON) != string(bytes.TrimSpace(raw)) {
			t.Errorf("%s: got %s, want %s", field, gotJSON, raw)
		}
	}
}

// assertNoSecretInError checks that no credential value of the case leaks into the message.
func assertNoSecretInError(t *testing.T, e *Error, vc vectorCase) {
	t.Helper()
	if len(vc.Resolve) == 0 {
		return
	}
	var body struct {
		AccessToken string         `json:"access_token"`
		Credentials map[string]any `json:"credentials"`
	}
	if json.Unmarshal(vc.Resolve, &body) != nil {
		return
	}
	secrets := []string{body.AccessToken}
	for _, v := range body.Credentials {
		if s, ok := v.(string); ok {
			secrets = append(secrets, s)
		}
	}
	msg := e.Error()
	for _, s := range secrets {
		if len(s) >= 6 && strings.Contains(msg, s) {
			t.Errorf("error message contains a credential value: %q", msg)
		}
	}
}

func lookupFold(m map[string]string, name string) (string, bool) {
	for k, v := range m {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
