package oauthsdk

import (
	"context"
	"sync"
	"sync/atomic"
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
	// now is the clock of freshness decisions; nil is the real clock (see entry.fresh).
	now func() time.Time

	// entries is an immutable snapshot (cache_snapshot.go), replaced whole (copy on write,
	// under mu) on every change: the hit path is one atomic load and one map lookup, with no
	// lock and no write to shared memory. Writes are rare (a miss, a refresh, an
	// invalidation) and copy the map's top level.
	entries atomic.Pointer[snapshot]
	// mu serialises writers of entries and guards flights.
	mu      sync.Mutex
	flights map[flightKey]*flight
}

// entry is a cached credential and the instant it stops being served (expiry - buffer),
// computed once when it is stored.
type entry struct {
	cred       *Credential
	freshUntil time.Time
}

// cacheKey names a credential. client is the interned identity of the gateway and API key
// (see internIdentity): a number hashes faster than the identity string on every hit. session
// is the agent session's id, empty without one.
type cacheKey struct {
	client              uint64
	session             string
	workspace, provider string
}

// identities interns client identities (gateway URL + API key hash) as small numbers, so
// Clients with the same gateway and API key share their credentials in a TokenCache, as
// before. It grows with the number of distinct (gateway, API key) pairs a process uses.
var identities = struct {
	sync.Mutex
	ids map[string]uint64
}{ids: make(map[string]uint64)}

// internIdentity returns the number of identity, assigning the next one on first use.
func internIdentity(identity string) uint64 {
	identities.Lock()
	defer identities.Unlock()
	id, ok := identities.ids[identity]
	if !ok {
		id = uint64(len(identities.ids)) + 1
		identities.ids[identity] = id
	}
	return id
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
	c := &TokenCache{buffer: buffer, flights: make(map[flightKey]*flight)}
	c.entries.Store(&snapshot{})
	return c
}

// Buffer returns the safety buffer.
func (c *TokenCache) Buffer() time.Duration { return c.buffer }

// Len returns the number of credentials held (fresh or not).
func (c *TokenCache) Len() int {
	return c.entries.Load().len()
}

// Clear drops every credential.
func (c *TokenCache) Clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries.Store(&snapshot{})
}

// fresh reports whether e may still be served now (now < expiry - buffer).
func (c *TokenCache) fresh(e entry) bool {
	if c.now == nil {
		// The same comparison as time.Now().Before(e.freshUntil), but time.Until reads only
		// the monotonic clock when freshUntil carries a monotonic reading (credentials
		// received on the real clock do): one clock read instead of two, which is most of
		// the hit's cost on a virtual machine.
		return time.Until(e.freshUntil) > 0
	}
	return c.now().Before(e.freshUntil)
}

// lookup returns the cached credential for key if it is still fresh. The real clock's test
// is spelled out here rather than calling fresh: the hit is a handful of nanoseconds above
// the clock read, and a call that is not inlined is a measurable share of that.
func (c *TokenCache) lookup(key cacheKey) (*Credential, bool) {
	e, ok := c.entries.Load().get(key)
	if !ok {
		return nil, false
	}
	if c.now == nil {
		// Same test as fresh: reads the monotonic clock only.
		if time.Until(e.freshUntil) > 0 {
			return e.cred, true
		}
		return nil, false
	}
	if c.now().Before(e.freshUntil) {
		return e.cred, true
	}
	return nil, false
}

// invalidate drops key's credential.
func (c *TokenCache) invalidate(key cacheKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	next := c.entries.Load().without(key)
	c.entries.Store(&next)
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
	if e, ok := c.entries.Load().get(fk.cacheKey); ok && e.cred != stale && c.fresh(e) {
		c.mu.Unlock()
		return e.cred, nil
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
		e := entry{cred: cred, freshUntil: cred.expiry.Add(-c.buffer)}
		next := c.entries.Load().with(fk.cacheKey, e)
		c.entries.Store(&next)
	}
	delete(c.flights, fk)
	f.cred, f.err = cred, err
	c.mu.Unlock()
	close(f.done)
}
