package oauthsdk

import (
	"context"
	"testing"
)

// RefreshCachedToken is the forced refresh the bridge modules use: it must go to the gateway
// with force_refresh, store the new credential, and hand the new one to a caller that still
// holds the stale one.
func TestRefreshCachedTokenForcesAndStores(t *testing.T) {
	gw := newFakeGateway(t)
	client := New(gw.URL)
	cache := NewTokenCache(0)
	ctx := context.Background()

	first, err := client.GetCachedToken(ctx, cache, "ws", "github")
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := client.RefreshCachedToken(ctx, cache, "ws", "github", first)
	if err != nil {
		t.Fatal(err)
	}
	if fresh == first || gw.forced.Load() != 1 {
		t.Fatalf("expected one forced resolve and a new credential, got forced=%d same=%v", gw.forced.Load(), fresh == first)
	}
	cached, err := client.GetCachedToken(ctx, cache, "ws", "github")
	if err != nil {
		t.Fatal(err)
	}
	if cached != fresh || gw.resolves.Load() != 2 {
		t.Fatalf("the refreshed credential was not cached (resolves=%d)", gw.resolves.Load())
	}
	// A second caller still holding the stale credential gets the fresh one, no new call.
	again, err := client.RefreshCachedToken(ctx, cache, "ws", "github", first)
	if err != nil {
		t.Fatal(err)
	}
	if again != fresh || gw.resolves.Load() != 2 {
		t.Fatalf("a refresh for an already replaced credential went to the gateway (resolves=%d)", gw.resolves.Load())
	}
	if client.Logger() == nil {
		t.Fatal("Logger returned nil")
	}
}
