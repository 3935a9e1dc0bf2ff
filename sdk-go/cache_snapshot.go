package oauthsdk

import "maps"

// snapshot is an immutable view of a TokenCache's credentials. It is never changed once
// published: with and without return a new snapshot sharing what did not change.
//
// It is keyed by (workspace, provider) only, with the few (client, session) variants of that
// pair in a short slice: a map key of two strings hashes in about a third of the time of the
// full four-field key on the machines measured (BENCHMARKS.md, Go SDK), and almost every
// process has one client and no session per pair, so the scan is one comparison.
type snapshot map[pairKey][]slot

// pairKey is the map key of a snapshot.
type pairKey struct{ workspace, provider string }

// slot is one credential of a pair, for one client and session.
type slot struct {
	client  uint64
	session string
	entry
}

func (s snapshot) get(key cacheKey) (entry, bool) {
	slots := s[pairKey{key.workspace, key.provider}]
	for i := range slots {
		if slots[i].client == key.client && slots[i].session == key.session {
			return slots[i].entry, true
		}
	}
	return entry{}, false
}

// with returns a snapshot where key holds e.
func (s snapshot) with(key cacheKey, e entry) snapshot {
	pair := pairKey{key.workspace, key.provider}
	old := s[pair]
	slots := make([]slot, 0, len(old)+1)
	for _, sl := range old {
		if sl.client != key.client || sl.session != key.session {
			slots = append(slots, sl)
		}
	}
	next := maps.Clone(s)
	next[pair] = append(slots, slot{client: key.client, session: key.session, entry: e})
	return next
}

// without returns a snapshot where key holds nothing (s itself when it held nothing).
func (s snapshot) without(key cacheKey) snapshot {
	if _, ok := s.get(key); !ok {
		return s
	}
	pair := pairKey{key.workspace, key.provider}
	var slots []slot
	for _, sl := range s[pair] {
		if sl.client != key.client || sl.session != key.session {
			slots = append(slots, sl)
		}
	}
	next := maps.Clone(s)
	if len(slots) == 0 {
		delete(next, pair)
	} else {
		next[pair] = slots
	}
	return next
}

// len is the number of credentials held.
func (s snapshot) len() int {
	n := 0
	for _, slots := range s {
		n += len(slots)
	}
	return n
}
