package bridge

import (
	"context"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// BenchmarkBuildHandshake is the per-attempt cost of applying a strategy to the handshake.
func BenchmarkBuildHandshake(b *testing.B) {
	cred := credentialFor(b, map[string]any{"type": "oauth2"}, map[string]any{"access_token": "at-1"})
	now := time.Now()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := buildHandshake("wss://stream.example.com/v1?x=1", cred, nil, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReconnectCycle measures one full cycle on loopback: the upstream closes the
// connection, the bridge resolves afresh (fake gateway), dials, and is connected again. The
// backoff is made negligible (1 ns floor) so the figure is the bridge's own overhead.
func BenchmarkReconnectCycle(b *testing.B) {
	gw := newGateway(b)
	up := newUpstream(b, gw)
	kick := make(chan struct{})
	up.serve = func(ctx context.Context, c *websocket.Conn) {
		<-kick
		_ = c.Close(websocket.StatusGoingAway, "again")
	}
	rec := newRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	done := run(ctx, newClient(gw, nil), up.wsURL(), rec, WithBackoff(time.Nanosecond, time.Nanosecond))
	<-rec.connects
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		kick <- struct{}{}
		<-rec.disconnects
		<-rec.connects
	}
	b.StopTimer()
	cancel()
	<-done
	close(kick)
}
