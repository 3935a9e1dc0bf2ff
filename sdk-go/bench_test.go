package oauthsdk

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// nopTransport answers every request at once without any I/O, so that the benchmarks below
// measure only the work done in front of it.
type nopTransport struct{}

func (nopTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Header: http.Header{}, Request: r}, nil
}

// staticHeaderTransport is the baseline: what a hand-written client with a fixed token does.
type staticHeaderTransport struct {
	base  http.RoundTripper
	value string
}

func (t staticHeaderTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	out := r.Clone(r.Context())
	out.Header.Set("Authorization", t.value)
	return t.base.RoundTrip(out)
}

// BenchmarkCacheHit: GetCachedToken on a warm cache.
func BenchmarkCacheHit(b *testing.B) {
	nexus, cache := warmClient(b, "oauth2", nil, map[string]any{"access_token": "tok"})
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := nexus.GetCachedToken(ctx, cache, "ws", "github"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCacheHitParallel: the same from every CPU (RWMutex read path).
func BenchmarkCacheHitParallel(b *testing.B) {
	nexus, cache := warmClient(b, "oauth2", nil, map[string]any{"access_token": "tok"})
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := nexus.GetCachedToken(ctx, cache, "ws", "github"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkRoundTrip compares, in front of a transport that does no I/O, a static header
// (baseline) with the authenticated transport on a warm cache, for a header strategy and for
// SigV4 (which hashes the body and signs).
func BenchmarkRoundTrip(b *testing.B) {
	b.Run("static_header_baseline", func(b *testing.B) {
		benchTransport(b, staticHeaderTransport{base: nopTransport{}, value: "Bearer tok"}, "")
	})
	b.Run("nexus_oauth2", func(b *testing.B) {
		nexus, cache := warmClient(b, "oauth2", nil, map[string]any{"access_token": "tok"})
		benchTransport(b, nexus.NewAuthenticatedTransport(cache, "ws", "github", nopTransport{}), "")
	})
	b.Run("nexus_aws_sigv4_1KiB_body", func(b *testing.B) {
		nexus, cache := warmClient(b, "aws_sigv4", map[string]any{"region": "us-east-1", "service": "execute-api"},
			map[string]any{"access_key": "AKID", "secret_key": "SECRET"})
		benchTransport(b, nexus.NewAuthenticatedTransport(cache, "ws", "github", nopTransport{}), strings.Repeat("x", 1024))
	})
}

// BenchmarkRoundTripLoopback is the same comparison with a real HTTP upstream on 127.0.0.1, to
// show the overhead next to the cost of one local HTTP exchange.
func BenchmarkRoundTripLoopback(b *testing.B) {
	up := newEchoUpstream(b)
	b.Run("static_header_baseline", func(b *testing.B) {
		benchTransportTo(b, staticHeaderTransport{base: http.DefaultTransport, value: "Bearer tok"}, up.URL, "")
	})
	b.Run("nexus_oauth2", func(b *testing.B) {
		nexus, cache := warmClient(b, "oauth2", nil, map[string]any{"access_token": "tok"})
		benchTransportTo(b, nexus.NewAuthenticatedTransport(cache, "ws", "github", http.DefaultTransport), up.URL, "")
	})
}

func benchTransport(b *testing.B, rt http.RoundTripper, body string) {
	benchTransportTo(b, rt, "https://api.example.com", body)
}

func benchTransportTo(b *testing.B, rt http.RoundTripper, base, body string) {
	client := &http.Client{Transport: rt}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var r io.Reader
		if body != "" {
			r = strings.NewReader(body)
		}
		req, err := http.NewRequest(http.MethodPost, base+"/v1/items?a=1", r)
		if err != nil {
			b.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// warmClient returns a client and a cache already holding a credential for (ws, github).
func warmClient(b *testing.B, strategy string, config, creds map[string]any) (*Client, *TokenCache) {
	b.Helper()
	g := newFakeGateway(b)
	g.handle = func(w http.ResponseWriter, r *http.Request, _ int64) { writeResolve(w, strategy, config, creds, 3600) }
	nexus := New(g.URL, WithAPIKey("k"))
	cache := NewTokenCache(30 * time.Second)
	if _, err := nexus.GetCachedToken(context.Background(), cache, "ws", "github"); err != nil {
		b.Fatal(err)
	}
	return nexus, cache
}

// floorKey and floorEntry are what the cache hit could not do with less: a map keyed by
// (workspace, provider) holding a credential and its deadline.
type floorKey struct{ workspace, provider string }

type floorEntry struct {
	cred     *Credential
	deadline time.Time
}

var floorSink *Credential

// BenchmarkCacheHitFloor is the floor of BenchmarkCacheHit, measured in the same run: one
// plain map lookup plus the freshness check with time.Now, no lock, no client identity.
func BenchmarkCacheHitFloor(b *testing.B) {
	m := map[floorKey]floorEntry{{"ws", "github"}: {&Credential{}, time.Now().Add(time.Hour)}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e, ok := m[floorKey{"ws", "github"}]
		if !ok || !time.Now().Before(e.deadline) {
			b.Fatal("floor entry not fresh")
		}
		floorSink = e.cred
	}
}

// BenchmarkCacheHitFloorMapOnly: the same lookup without reading the clock, to show what the
// clock read costs on the machine.
func BenchmarkCacheHitFloorMapOnly(b *testing.B) {
	m := map[floorKey]floorEntry{{"ws", "github"}: {&Credential{}, time.Now().Add(time.Hour)}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e, ok := m[floorKey{"ws", "github"}]
		if !ok {
			b.Fatal("floor entry missing")
		}
		floorSink = e.cred
	}
}

// BenchmarkCacheHitFloorMonotonic: the floor lookup with the freshness check the cache makes
// (time.Until: one monotonic clock read instead of time.Now's two).
func BenchmarkCacheHitFloorMonotonic(b *testing.B) {
	m := map[floorKey]floorEntry{{"ws", "github"}: {&Credential{}, time.Now().Add(time.Hour)}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e, ok := m[floorKey{"ws", "github"}]
		if !ok || time.Until(e.deadline) <= 0 {
			b.Fatal("floor entry not fresh")
		}
		floorSink = e.cred
	}
}
