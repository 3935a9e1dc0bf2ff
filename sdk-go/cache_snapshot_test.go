package oauthsdk

import (
	"fmt"
	"testing"
)

// The snapshot answers the same whether it scans its small form or hashes into its map: every
// pair stored is found with its own credential, across the switch at smallPairs pairs in both
// directions, and a pair's other (client, session) variants are kept apart.
func TestSnapshotScanAndMapAgree(t *testing.T) {
	key := func(i int, client uint64, session string) cacheKey {
		return cacheKey{client: client, session: session, workspace: fmt.Sprintf("ws%d", i), provider: "github"}
	}
	s := &snapshot{}
	creds := map[cacheKey]*Credential{}
	for i := 0; i < 2*smallPairs; i++ {
		for _, k := range []cacheKey{key(i, 1, ""), key(i, 2, ""), key(i, 1, "sess")} {
			cred := &Credential{}
			next := s.with(k, entry{cred: cred})
			s = &next
			creds[k] = cred
		}
		if scanned := s.small != nil; scanned != (i+1 <= smallPairs) {
			t.Fatalf("%d pairs: scanned form present = %v", i+1, scanned)
		}
		for k, cred := range creds {
			if e, ok := s.get(k); !ok || e.cred != cred {
				t.Fatalf("%d pairs: %+v not found or wrong credential", i+1, k)
			}
		}
	}
	if _, ok := s.get(key(0, 3, "")); ok {
		t.Fatal("a client that stored nothing was served another client's credential")
	}
	for i := 2*smallPairs - 1; i >= 0; i-- {
		for _, k := range []cacheKey{key(i, 1, ""), key(i, 2, ""), key(i, 1, "sess")} {
			next := s.without(k)
			s = &next
			delete(creds, k)
			if _, ok := s.get(k); ok {
				t.Fatalf("%+v still served after without", k)
			}
		}
		for k, cred := range creds {
			if e, ok := s.get(k); !ok || e.cred != cred {
				t.Fatalf("%d pairs left: %+v lost", i, k)
			}
		}
	}
	if s.len() != 0 {
		t.Fatalf("len = %d after removing everything", s.len())
	}
}
