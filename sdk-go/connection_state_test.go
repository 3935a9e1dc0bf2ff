package oauthsdk

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

// The gateway's check-connection answer keeps `status` in the original protocol's value set
// (pending, active, failed) and carries the finer state in `state`: the SDK reports the finer
// one, so its behaviour is the same as against a gateway that sent it as `status`.
func TestCheckConnectionReadsTheFinerState(t *testing.T) {
	cases := []struct {
		body map[string]any
		want string
	}{
		{map[string]any{"status": "failed", "state": "needs_reauth"}, StatusNeedsReauth},
		{map[string]any{"status": "failed", "state": "revoked"}, StatusRevoked},
		{map[string]any{"status": "pending", "state": "pending"}, StatusPending},
		{map[string]any{"status": "needs_reauth"}, StatusNeedsReauth}, // an older gateway
	}
	for _, tc := range cases {
		g := newFakeGateway(t)
		g.handle = func(w http.ResponseWriter, r *http.Request, _ int64) { writeJSON(w, 200, tc.body) }
		nexus, _ := newTestClient(g)
		got, err := nexus.CheckConnection(context.Background(), "c1")
		if err != nil || got.Status != tc.want {
			t.Fatalf("%v: got %+v, %v; want %s", tc.body, got, err, tc.want)
		}
	}
}

func TestWaitForActiveStopsOnTheFinerStateWithItsReauthURL(t *testing.T) {
	g := newFakeGateway(t)
	g.handle = func(w http.ResponseWriter, r *http.Request, _ int64) {
		writeJSON(w, 200, map[string]any{"status": "failed", "state": "needs_reauth",
			"reauth_url": "https://nexus.example/re"})
	}
	nexus, _ := newTestClient(g)
	status, err := nexus.WaitForActive(context.Background(), "c1", time.Millisecond)
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeConnectionFailed || e.ReauthURL != "https://nexus.example/re" {
		t.Fatalf("got %+v", err)
	}
	if status == nil || status.Status != StatusNeedsReauth {
		t.Fatalf("status %+v", status)
	}
}
