package oauthsdk

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"encoding/json"
)

// proxyVector is one case of tests/vectors/proxy.json → proxy_cases (format: its README).
type proxyVector struct {
	Name string `json:"name"`
	URL  *struct {
		Gateway     string `json:"gateway"`
		WorkspaceID string `json:"workspace_id"`
		Provider    string `json:"provider"`
		Path        string `json:"path"`
	} `json:"url"`
	Answer *struct {
		Status  int               `json:"status"`
		Headers map[string]string `json:"headers"`
		Body    string            `json:"body"`
	} `json:"answer"`
	ExpectURL    string `json:"expect_url"`
	ExpectSource string `json:"expect_source"`
	ExpectError  string `json:"expect_error"`
}

func TestProxyVectors(t *testing.T) {
	raw, err := os.ReadFile("../tests/vectors/proxy.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		ProxyCases []proxyVector `json:"proxy_cases"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.ProxyCases) < 20 {
		t.Fatalf("only %d proxy cases", len(doc.ProxyCases))
	}
	for _, vc := range doc.ProxyCases {
		t.Run(vc.Name, func(t *testing.T) {
			var got, want string
			switch {
			case vc.URL != nil:
				u, err := ProxyURL(vc.URL.Gateway, vc.URL.WorkspaceID, vc.URL.Provider, vc.URL.Path)
				got = u
				if err != nil {
					got = "error:" + err.(*Error).Code
				}
				want = vc.ExpectURL
				if vc.ExpectError != "" {
					want = "error:" + vc.ExpectError
				}
			case vc.Answer != nil:
				header := http.Header{}
				for name, value := range vc.Answer.Headers {
					header.Set(name, value)
				}
				got = "upstream"
				if e := ProxyGatewayError(vc.Answer.Status, header, []byte(vc.Answer.Body)); e != nil {
					got = "gateway:" + e.Code
				}
				want = vc.ExpectSource
				if vc.ExpectSource == "gateway" {
					want = "gateway:" + vc.ExpectError
				}
			default:
				t.Fatal("malformed case")
			}
			if got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
		})
	}
}

// A gateway stand-in on loopback: what proxy mode sends, and the three kinds of answer.
func TestProxyHTTPClientSendsTheNexusCredentialAndReturnsUpstreamAnswers(t *testing.T) {
	var mu sync.Mutex
	var seen []*http.Request
	gateway := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Clone(r.Context()))
		mu.Unlock()
		switch {
		case strings.HasSuffix(r.URL.Path, "/denied"):
			w.Header().Set("Nexus-Error", "insufficient_scope")
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `{"error":"insufficient_scope","message":"no rule"}`)
		case strings.HasSuffix(r.URL.Path, "/moved"):
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		default:
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"unauthorized","message":"upstream's own"}`)
		}
	}))
	defer gateway.Close()
	client := New(gateway.URL, WithAPIKey("nx_key")).
		ProxyHTTPClient("acme", "crm", WithProxyHost("uploads.crm.example"))

	req, _ := http.NewRequest(http.MethodPost, "/contacts?x=1", strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer caller-own")
	req.Header.Set("X-Trace", "t1")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("an upstream 401 is returned as it is, got %d", resp.StatusCode)
	}
	moved, _ := http.NewRequest(http.MethodGet, "/moved", nil)
	resp, err = client.Do(moved)
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("a redirect is returned, not followed: %v %v", resp, err)
	}
	resp.Body.Close()
	denied, _ := http.NewRequest(http.MethodGet, "/denied", nil)
	_, err = client.Do(denied)
	var nexusErr *Error
	if !errors.As(err, &nexusErr) || nexusErr.Code != CodeInsufficientScope || nexusErr.StatusCode != 403 {
		t.Fatalf("the gateway's refusal is a typed error: %v", err)
	}
	absolute, _ := http.NewRequest(http.MethodGet, "https://evil.example/x", nil)
	if _, err := client.Do(absolute); !errors.As(err, &nexusErr) || nexusErr.Code != CodeInvalidRequest {
		t.Fatalf("an absolute URL is refused: %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 3 {
		t.Fatalf("one request each, no retry and no redirect followed: %d", len(seen))
	}
	first := seen[0]
	if first.URL.RequestURI() != "/v1/proxy/acme/crm/contacts?x=1" {
		t.Fatalf("target %q", first.URL.RequestURI())
	}
	if got := first.Header.Values("Authorization"); len(got) != 1 || got[0] != "Bearer nx_key" {
		t.Fatalf("Authorization %q: the caller's is replaced", got)
	}
	if first.Header.Get("X-Trace") != "t1" || first.Header.Get("Nexus-Proxy-Host") != "uploads.crm.example" {
		t.Fatalf("headers %v", first.Header)
	}
}
