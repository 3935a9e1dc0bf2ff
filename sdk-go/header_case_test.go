package oauthsdk

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawRecorder is an HTTP/1.1 upstream on loopback that reads the request head byte by byte and
// keeps each header name exactly as it arrived (net/http's server would canonicalise them).
type rawRecorder struct {
	URL   string
	mu    sync.Mutex
	names [][]string
}

func newRawRecorder(t *testing.T) *rawRecorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	r := &rawRecorder{URL: "http://" + ln.Addr().String()}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go r.serve(conn)
		}
	}()
	return r
}

func (r *rawRecorder) serve(conn net.Conn) {
	defer conn.Close()
	reader := bufio.NewReader(conn)
	for {
		if _, err := reader.ReadString('\n'); err != nil { // request line
			return
		}
		var names []string
		for {
			line, err := reader.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\r\n")
			if line == "" {
				break
			}
			if name, _, ok := strings.Cut(line, ":"); ok {
				names = append(names, name)
			}
		}
		r.mu.Lock()
		r.names = append(r.names, names)
		r.mu.Unlock()
		if _, err := conn.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")); err != nil {
			return
		}
	}
}

func (r *rawRecorder) last(t *testing.T) []string {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.names) == 0 {
		t.Fatal("the upstream received no request")
	}
	return r.names[len(r.names)-1]
}

func contains(names []string, want string) bool {
	for _, n := range names {
		if n == want {
			return true
		}
	}
	return false
}

// The credential header goes out named as the provider declared it, and the caller's headers
// as the caller wrote them (issue 15: upstreams and MCP servers compare names exactly).
func TestHeaderNamesReachTheUpstreamAsWritten(t *testing.T) {
	for _, tc := range []struct {
		strategy string
		config   map[string]any
		want     string
	}{
		{"header", map[string]any{"header_name": "X-API-Key", "value_prefix": ""}, "X-API-Key"},
		{"oauth2", nil, "Authorization"},
	} {
		g := newFakeGateway(t)
		g.handle = func(w http.ResponseWriter, _ *http.Request, _ int64) {
			writeResolve(w, tc.strategy, tc.config, map[string]any{"access_token": "tok", "api_key": "tok"}, 3600)
		}
		up := newRawRecorder(t)
		nexus, _ := newTestClient(g)
		client := nexus.AuthenticatedHTTPClient(NewTokenCache(time.Minute), "ws1", "prov")
		req, err := http.NewRequest(http.MethodGet, up.URL+"/x", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header["x-Custom-Thing"] = []string{"1"} // written by hand: not canonical
		req.Header["x-api-key"] = []string{"the caller's, replaced"}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.strategy, err)
		}
		resp.Body.Close()
		names := up.last(t)
		if !contains(names, tc.want) || !contains(names, "x-Custom-Thing") {
			t.Fatalf("%s: upstream saw header names %q", tc.strategy, names)
		}
		if tc.strategy == "header" && contains(names, "x-api-key") {
			t.Fatalf("the caller's x-api-key was sent beside the injected X-API-Key: %q", names)
		}
	}
}
