package oauthsdk

import (
	"context"
	"sync"
	"time"
)

// TokenCache keeps resolved credentials in memory, per (gateway, API key, workspace,
// provider). It is safe for concurrent use, and concurrent misses on the same key share one
// gateway call (single flight). One cache may serve several Clients.
//
// A credential is served while now < expiry - buffer: the buffer keeps a token that is about to
// expire from being handed to a request that would reach the provider too late.
type TokenCache struct {
	buffer time.Duration
	now    func() time.Time

	mu      sync.RWMutex
	entries map[cacheKey]*Credential
	flights map[flightKey]*flight
}

// cacheKey names a credential. client separates gateways and API keys sharing a cache.
type cacheKey struct {
	client, workspace, provider string
}

// flightKey separates a forced refresh from an ordinary miss: a caller that saw a 401 must not
// join a flight that may return the very token that was just rejected.
type flightKey struct {
	cacheKey
	forced bool
}

// flight is one gateway call in progress; done is closed once cred/err are set.
type flight struct {
	done chan struct{}
	cred *Credential
	err  error
}

// flightTimeout bounds one shared gateway call (retries included).
const flightTimeout = 2 * time.Minute

// resolveFunc fetches a credential from the gateway.
type resolveFunc func(ctx context.Context) (*Credential, error)

// NewTokenCache returns an empty cache with the given safety buffer (negative counts as 0).
func NewTokenCache(buffer time.Duration) *TokenCache {
	if buffer < 0 {
		buffer = 0
	}
	return &TokenCache{
		buffer:  buffer,
		now:     time.Now,
		entries: make(map[cacheKey]*Credential),
		flights: make(map[flightKey]*flight),
	}
}

// Buffer returns the safety buffer.
func (c *TokenCache) Buffer() time.Duration { return c.buffer }

// Len returns the number of credentials held (fresh or not).
func (c *TokenCache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}

// Clear drops every credential.
func (c *TokenCache) Clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
}

// fresh reports whether cred may still be served at now.
func (c *TokenCache) fresh(cred *Credential, now time.Time) bool {
	return now.Before(cred.expiry.Add(-c.buffer))
}

// lookup returns the cached credential for key if it is still fresh.
func (c *TokenCache) lookup(key cacheKey) (*Credential, bool) {
	c.mu.RLock()
	cred, ok := c.entries[key]
	c.mu.RUnlock()
	if ok && c.fresh(cred, c.now()) {
		return cred, true
	}
	return nil, false
}

// invalidate drops key's credential.
func (c *TokenCache) invalidate(key cacheKey) {
	c.mu.Lock()
	delete(c.entries, key)
	c.mu.Unlock()
}

// getOrResolve serves key from the cache or, on a miss, runs (or joins) one resolve for it.
func (c *TokenCache) getOrResolve(ctx context.Context, key cacheKey, resolve resolveFunc) (*Credential, error) {
	if cred, ok := c.lookup(key); ok {
		return cred, nil
	}
	return c.join(ctx, flightKey{cacheKey: key}, nil, resolve)
}

// replace is called after an upstream rejected stale: it returns a newer fresh credential if
// another goroutine already fetched one, and otherwise runs (or joins) a forced resolve.
func (c *TokenCache) replace(ctx context.Context, key cacheKey, stale *Credential, resolve resolveFunc) (*Credential, error) {
	return c.join(ctx, flightKey{cacheKey: key, forced: true}, stale, resolve)
}

// join waits for the flight of fk, starting it if there is none. The gateway call runs
// detached from any one caller's context, so that a caller giving up does not fail the others
// waiting on the same flight; each caller still returns as soon as its own context is done.
func (c *TokenCache) join(ctx context.Context, fk flightKey, stale *Credential, resolve resolveFunc) (*Credential, error) {
	c.mu.Lock()
	// Re-check under the write lock: another flight may have finished since the lookup.
	if cred, ok := c.entries[fk.cacheKey]; ok && cred != stale && c.fresh(cred, c.now()) {
		c.mu.Unlock()
		return cred, nil
	}
	f, running := c.flights[fk]
	if !running {
		f = &flight{done: make(chan struct{})}
		c.flights[fk] = f
		go c.run(context.WithoutCancel(ctx), fk, f, resolve)
	}
	c.mu.Unlock()

	select {
	case <-f.done:
		return f.cred, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// run performs one flight and publishes its result to the cache and to every waiter.
func (c *TokenCache) run(ctx context.Context, fk flightKey, f *flight, resolve resolveFunc) {
	// Detached from its callers, the flight still needs an end if the gateway hangs.
	ctx, cancel := context.WithTimeout(ctx, flightTimeout)
	defer cancel()
	cred, err := resolve(ctx)
	c.mu.Lock()
	if err == nil {
		c.entries[fk.cacheKey] = cred
	}
	delete(c.flights, fk)
	f.cred, f.err = cred, err
	c.mu.Unlock()
	close(f.done)
}
