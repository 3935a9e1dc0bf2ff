package oauthsdk

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for cache freshness decisions.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestCacheServesUntilExpiryMinusBuffer(t *testing.T) {
	g := newFakeGateway(t)
	g.handle = func(w http.ResponseWriter, r *http.Request, _ int64) {
		writeResolve(w, "oauth2", nil, map[string]any{"access_token": "token-" + itoa(g.resolves.Load())}, 60)
	}
	clock := &fakeClock{now: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	nexus, _ := newTestClient(g)
	nexus.now = clock.Now
	cache := NewTokenCache(30 * time.Second)
	cache.now = clock.Now
	ctx := context.Background()

	get := func() string {
		t.Helper()
		cred, err := nexus.GetCachedToken(ctx, cache, "ws", "github")
		if err != nil {
			t.Fatal(err)
		}
		return cred.AccessToken.Reveal()
	}
	if got := get(); got != "token-1" {
		t.Fatalf("first: %s", got)
	}
	clock.Advance(29*time.Second + 999*time.Millisecond) // 60 s token, 30 s buffer: still fresh
	if got := get(); got != "token-1" || g.resolves.Load() != 1 {
		t.Fatalf("inside the window: %s after %d resolves", got, g.resolves.Load())
	}
	clock.Advance(time.Millisecond) // now == expiry - buffer: no longer served
	if got := get(); got != "token-2" || g.resolves.Load() != 2 {
		t.Fatalf("at expiry-buffer: %s after %d resolves", got, g.resolves.Load())
	}
}

func TestCacheDoesNotKeepErrorsAndSeparatesKeys(t *testing.T) {
	g := newFakeGateway(t)
	fail := true
	var mu sync.Mutex
	g.handle = func(w http.ResponseWriter, r *http.Request, _ int64) {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			writeError(w, http.StatusConflict, CodeReauthRequired, "authorize again")
			return
		}
		q := r.URL.Query()
		writeResolve(w, "oauth2", nil, map[string]any{"access_token": q.Get("workspace_id") + "/" + q.Get("provider_name")}, 3600)
	}
	nexus, _ := newTestClient(g)
	cache := NewTokenCache(0)
	ctx := context.Background()
	if _, err := nexus.GetCachedToken(ctx, cache, "ws", "github"); errorCode(err) != CodeReauthRequired {
		t.Fatalf("got %v", err)
	}
	mu.Lock()
	fail = false
	mu.Unlock()
	for _, key := range [][2]string{{"ws", "github"}, {"ws", "slack"}, {"ws2", "github"}} {
		cred, err := nexus.GetCachedToken(ctx, cache, key[0], key[1])
		if err != nil || cred.AccessToken.Reveal() != key[0]+"/"+key[1] {
			t.Fatalf("%v: %v %v", key, cred, err)
		}
	}
	// Another client (another API key) sharing the cache gets its own entries.
	other := New(g.URL, WithAPIKey("another_key"))
	if _, err := other.GetCachedToken(ctx, cache, "ws", "github"); err != nil {
		t.Fatal(err)
	}
	if cache.Len() != 4 || g.resolves.Load() != 5 {
		t.Fatalf("entries %d, resolves %d", cache.Len(), g.resolves.Load())
	}
	nexus.InvalidateCachedToken(cache, "ws", "github")
	if _, err := nexus.GetCachedToken(ctx, cache, "ws", "github"); err != nil || g.resolves.Load() != 6 {
		t.Fatalf("after invalidate: %v, resolves %d", err, g.resolves.Load())
	}
	// Invalidating one client's entry left the other client's entry for the same pair, and a
	// new Client with the same gateway and API key shares the first client's entries.
	if _, err := other.GetCachedToken(ctx, cache, "ws", "github"); err != nil || g.resolves.Load() != 6 {
		t.Fatalf("other client after invalidate: %v, resolves %d", err, g.resolves.Load())
	}
	same, _ := newTestClient(g)
	if _, err := same.GetCachedToken(ctx, cache, "ws2", "github"); err != nil || g.resolves.Load() != 6 {
		t.Fatalf("same gateway and key: %v, resolves %d", err, g.resolves.Load())
	}
	cache.Clear()
	if cache.Len() != 0 {
		t.Fatalf("after Clear: %d entries", cache.Len())
	}
}

func TestCallerGivingUpDoesNotFailTheOthersWaiting(t *testing.T) {
	g := newFakeGateway(t)
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	g.handle = func(w http.ResponseWriter, r *http.Request, _ int64) {
		arrived <- struct{}{}
		<-release
		writeResolve(w, "oauth2", nil, map[string]any{"access_token": "shared"}, 3600)
	}
	nexus, _ := newTestClient(g)
	cache := NewTokenCache(0)

	impatient, cancel := context.WithCancel(context.Background())
	impatientErr := make(chan error, 1)
	go func() {
		_, err := nexus.GetCachedToken(impatient, cache, "ws", "github")
		impatientErr <- err
	}()
	<-arrived // the flight started by the impatient caller is at the gateway
	patient := make(chan *Credential, 1)
	go func() {
		cred, err := nexus.GetCachedToken(context.Background(), cache, "ws", "github")
		if err != nil {
			t.Error(err)
		}
		patient <- cred
	}()
	cancel()
	if err := <-impatientErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("impatient caller: %v", err)
	}
	close(release)
	if cred := <-patient; cred == nil || cred.AccessToken.Reveal() != "shared" {
		t.Fatalf("patient caller got %v", cred)
	}
	if g.resolves.Load() != 1 {
		t.Fatalf("resolves %d, want 1", g.resolves.Load())
	}
}

func TestConcurrent401sShareOneForcedRefresh(t *testing.T) {
	g := newFakeGateway(t)
	up := newEchoUpstream(t)
	up.accept.Store("Bearer token-2")
	nexus, _ := newTestClient(g)
	cache := NewTokenCache(0)
	client := nexus.AuthenticatedHTTPClient(cache, "ws", "github")
	// Warm the cache with token-1 (which the upstream rejects).
	if _, err := nexus.GetCachedToken(context.Background(), cache, "ws", "github"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Get(up.URL)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("status %d", resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	// Every goroutine saw token-1 rejected. Those whose 401 arrives during the forced refresh
	// join it; later ones find its result in the cache: one forced refresh in all.
	if g.forced.Load() != 1 {
		t.Fatalf("forced refreshes %d, want 1", g.forced.Load())
	}
}
