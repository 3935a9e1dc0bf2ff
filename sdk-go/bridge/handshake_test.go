package bridge

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	oauthsdk "github.com/dromos/nexus/sdk-go"
)

// credentialFor builds a real oauthsdk.Credential by resolving it from a fake gateway that
// answers with the given strategy and credential fields.
func credentialFor(t testing.TB, strategy map[string]any, fields map[string]any) *oauthsdk.Credential {
	t.Helper()
	srv := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"expires_in": 600, "strategy": strategy, "credentials": fields})
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	cred, err := oauthsdk.New("http://"+ln.Addr().String()).ResolveToken(context.Background(), "ws", "p")
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

func TestHandshakeAppliesEachStrategy(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	emptyMAC := hmac.New(sha256.New, []byte("s3cret"))
	cases := []struct {
		name     string
		strategy map[string]any
		fields   map[string]any
		check    func(t *testing.T, hs *handshakeRequest)
	}{
		{"oauth2", map[string]any{"type": "oauth2"}, map[string]any{"access_token": "at-1"},
			func(t *testing.T, hs *handshakeRequest) {
				if got := hs.header.Get("Authorization"); got != "Bearer at-1" {
					t.Errorf("Authorization = %q", got)
				}
			}},
		{"header", map[string]any{"type": "header", "config": map[string]any{"header_name": "X-Api-Key"}},
			map[string]any{"api_key": "k-1"},
			func(t *testing.T, hs *handshakeRequest) {
				if got := hs.header.Get("X-Api-Key"); got != "k-1" {
					t.Errorf("X-Api-Key = %q", got)
				}
			}},
		{"query_param", map[string]any{"type": "query_param", "config": map[string]any{"param_name": "token"}},
			map[string]any{"api_key": "q 1"},
			func(t *testing.T, hs *handshakeRequest) {
				if hs.url != "http://127.0.0.1:9/stream?v=2&token=q%201" {
					t.Errorf("url = %q", hs.url)
				}
			}},
		{"basic_auth", map[string]any{"type": "basic_auth"}, map[string]any{"username": "u", "password": "p"},
			func(t *testing.T, hs *handshakeRequest) {
				want := "Basic " + base64.StdEncoding.EncodeToString([]byte("u:p"))
				if got := hs.header.Get("Authorization"); got != want {
					t.Errorf("Authorization = %q", got)
				}
			}},
		{"hmac_payload", map[string]any{"type": "hmac_payload"}, map[string]any{"secret": "s3cret"},
			func(t *testing.T, hs *handshakeRequest) {
				if got := hs.header.Get("X-Signature"); got != hex.EncodeToString(emptyMAC.Sum(nil)) {
					t.Errorf("X-Signature = %q, want the HMAC of the empty body", got)
				}
			}},
		{"aws_sigv4", map[string]any{"type": "aws_sigv4", "config": map[string]any{"region": "eu-west-1", "service": "execute-api"}},
			map[string]any{"access_key": "AKID", "secret_key": "sk"},
			func(t *testing.T, hs *handshakeRequest) {
				auth := hs.header.Get("Authorization")
				if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKID/20260102/eu-west-1/execute-api/aws4_request") {
					t.Errorf("Authorization = %q", auth)
				}
				if hs.header.Get("X-Amz-Date") != "20260102T030405Z" {
					t.Errorf("X-Amz-Date = %q", hs.header.Get("X-Amz-Date"))
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cred := credentialFor(t, tc.strategy, tc.fields)
			hs, err := buildHandshake("ws://127.0.0.1:9/stream?v=2", cred, http.Header{"X-Extra": {"1"}}, now)
			if err != nil {
				t.Fatal(err)
			}
			if hs.header.Get("X-Extra") != "1" {
				t.Error("the extra handshake header was lost")
			}
			tc.check(t, hs)
		})
	}
}

func TestHandshakeRejectsBadURLsAndStrategies(t *testing.T) {
	cred := credentialFor(t, map[string]any{"type": "oauth2"}, map[string]any{"access_token": "at"})
	for _, raw := range []string{"ftp://host/x", "://nope", "ws:///no-host"} {
		_, err := buildHandshake(raw, cred, nil, time.Now())
		var e *oauthsdk.Error
		if !errors.As(err, &e) || e.Code != oauthsdk.CodeInvalidRequest {
			t.Errorf("%q: got %v, want invalid_request", raw, err)
		}
	}
	bad := credentialFor(t, map[string]any{"type": "carrier_pigeon"}, map[string]any{"access_token": "at"})
	_, err := buildHandshake("wss://host/x", bad, nil, time.Now())
	var e *oauthsdk.Error
	if !errors.As(err, &e) || e.Code != oauthsdk.CodeUnknownStrategy {
		t.Errorf("got %v, want unknown_strategy", err)
	}
}

// A credential carried in the URL query must not leak through a failed dial into the logs or
// the disconnect reasons. The gateway is fine, the upstream port is closed.
func TestQueryCredentialNeverLogged(t *testing.T) {
	gw := newGateway(t)
	gw.set(func(g *gateway) {
		g.strategy = map[string]any{"type": "query_param", "config": map[string]any{"param_name": "access_token", "credential_field": "access_token"}}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "ws://" + ln.Addr().String() + "/stream"
	ln.Close()
	logs := &logBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sleeps := 0
	hook := func(c *config) {
		c.sleep = func(ctx context.Context, d time.Duration) error {
			if sleeps++; sleeps == 3 {
				cancel()
			}
			return ctx.Err()
		}
	}
	done := run(ctx, newClient(gw, logs), closedURL, newRecorder(), hook)
	if err := within(t, done, wait, "MaintainWebSocket to return"); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if !strings.Contains(out, "connecting failed") {
		t.Fatalf("the failed dial was not logged:\n%s", out)
	}
	if strings.Contains(out, "tok-") {
		t.Fatalf("a token reached the log:\n%s", out)
	}
}

// The query_param strategy works end to end: the upstream finds the token in the query.
func TestQueryParamHandshakeConnects(t *testing.T) {
	gw := newGateway(t)
	gw.set(func(g *gateway) {
		g.strategy = map[string]any{"type": "query_param", "config": map[string]any{"param_name": "access_token", "credential_field": "access_token"}}
	})
	up := newUpstream(t, gw)
	rec := newRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := run(ctx, newClient(gw, nil), up.wsURL(), rec, fastOptions()...)
	within(t, rec.connects, wait, "a connection")
	cancel()
	within(t, done, wait, "MaintainWebSocket to return")
	if a := up.snapshot(); len(a) != 1 || !a[0].accepted || a[0].token != "tok-1" {
		t.Fatalf("attempts %+v", a)
	}
}

func TestBackoffFormula(t *testing.T) {
	c := defaultConfig()
	c.minBackoff, c.maxBackoff = 10*time.Millisecond, 100*time.Millisecond
	c.jitter = func(n int64) int64 { return n - 1 } // the top of the range
	want := []time.Duration{10, 20, 40, 80, 100, 100}
	for n, w := range want {
		if got := c.backoff(n); got != w*time.Millisecond {
			t.Errorf("backoff(%d) top = %v, want %v", n, got, w*time.Millisecond)
		}
	}
	c.jitter = func(int64) int64 { return 0 }
	if got := c.backoff(5); got != 10*time.Millisecond {
		t.Errorf("backoff bottom = %v, want the floor", got)
	}
	if got := c.backoff(1000); got != 10*time.Millisecond {
		t.Errorf("a huge n overflowed: %v", got)
	}
	c.maxBackoff = time.Millisecond // below the floor counts as the floor
	c.jitter = func(n int64) int64 { return n - 1 }
	if got := c.backoff(3); got != 10*time.Millisecond {
		t.Errorf("max below min: %v", got)
	}
}
