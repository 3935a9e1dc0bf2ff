package oauthsdk

import "maps"

// snapshot is an immutable view of a TokenCache's credentials. It is never changed once
// published: with and without return a new snapshot sharing what did not change.
//
// It is keyed by (workspace, provider) only, with the few (client, session) variants of that
// pair in a short slice: almost every process has one client and no session per pair, so the
// scan is one comparison. Up to smallPairs pairs also sit in a plain slice that the hit scans
// instead of hashing: comparing two short strings (equal pointers when the caller passes the
// same literals, as it usually does) costs a few nanoseconds, hashing them for the map ~20
// (BENCHMARKS.md, Go SDK: the map lookup alone was a third of the hit on a quiet machine).
type snapshot struct {
	// small holds every pair while there are at most smallPairs of them; nil otherwise.
	small []pairSlots
	pairs map[pairKey][]slot
}

// smallPairs is where a scan stops beating the map's hash (short keys, measured).
const smallPairs = 8

// pairKey is the map key of a snapshot.
type pairKey struct{ workspace, provider string }

// pairSlots is one pair and its credentials, for the scanned form.
type pairSlots struct {
	key   pairKey
	slots []slot
}

// slot is one credential of a pair, for one client and session.
type slot struct {
	client  uint64
	session string
	entry
}

func (s *snapshot) get(key cacheKey) (entry, bool) {
	var slots []slot
	if s.small != nil {
		for i := range s.small {
			p := &s.small[i]
			if p.key.workspace == key.workspace && p.key.provider == key.provider {
				slots = p.slots
				break
			}
		}
	} else {
		slots = s.pairs[pairKey{key.workspace, key.provider}]
	}
	for i := range slots {
		if slots[i].client == key.client && slots[i].session == key.session {
			return slots[i].entry, true
		}
	}
	return entry{}, false
}

// with returns a snapshot where key holds e.
func (s *snapshot) with(key cacheKey, e entry) snapshot {
	pair := pairKey{key.workspace, key.provider}
	old := s.pairs[pair]
	slots := make([]slot, 0, len(old)+1)
	for _, sl := range old {
		if sl.client != key.client || sl.session != key.session {
			slots = append(slots, sl)
		}
	}
	next := maps.Clone(s.pairs)
	if next == nil {
		next = make(map[pairKey][]slot, 1)
	}
	next[pair] = append(slots, slot{client: key.client, session: key.session, entry: e})
	return newSnapshot(next)
}

// without returns a snapshot where key holds nothing (a copy of s when it held nothing).
func (s *snapshot) without(key cacheKey) snapshot {
	if _, ok := s.get(key); !ok {
		return *s
	}
	pair := pairKey{key.workspace, key.provider}
	var slots []slot
	for _, sl := range s.pairs[pair] {
		if sl.client != key.client || sl.session != key.session {
			slots = append(slots, sl)
		}
	}
	next := maps.Clone(s.pairs)
	if len(slots) == 0 {
		delete(next, pair)
	} else {
		next[pair] = slots
	}
	return newSnapshot(next)
}

// newSnapshot wraps pairs, adding the scanned form while there are few of them.
func newSnapshot(pairs map[pairKey][]slot) snapshot {
	s := snapshot{pairs: pairs}
	if len(pairs) > 0 && len(pairs) <= smallPairs {
		s.small = make([]pairSlots, 0, len(pairs))
		for k, v := range pairs {
			s.small = append(s.small, pairSlots{key: k, slots: v})
		}
	}
	return s
}

// len is the number of credentials held.
func (s *snapshot) len() int {
	n := 0
	for _, slots := range s.pairs {
		n += len(slots)
	}
	return n
}
