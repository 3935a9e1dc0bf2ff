package bridge

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	oauthsdk "github.com/dromos/nexus/sdk-go"
)

// serve runs one established connection until it ends, and says why and how long it was up.
// It returns only after its reader and keepalive goroutines have stopped and the socket is
// closed, so nothing of a connection outlives it.
func (b *bridge) serve(ctx context.Context, conn *websocket.Conn, cred *oauthsdk.Credential) (Reason, time.Duration) {
	start := b.cfg.now()
	b.handler.OnConnect(&connSender{conn: conn, writeTimeout: b.cfg.writeTimeout})

	// connCtx ends the keepalive; reads use no context, because cancelling a read context
	// makes the library drop the socket without a close frame.
	connCtx, stop := context.WithCancel(context.Background())
	defer stop()
	var activity atomic.Uint64 // messages received, so that data counts as a sign of life
	readErr := make(chan error, 1)
	pingErr := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		readErr <- b.readLoop(conn, &activity)
	}()
	go func() {
		defer wg.Done()
		if err := b.keepalive(connCtx, conn, &activity); err != nil {
			pingErr <- err
		}
	}()

	var expiring <-chan time.Time
	if b.cfg.reconnectBeforeExpiry {
		timer := time.NewTimer(b.untilReconnect(cred))
		defer timer.Stop()
		expiring = timer.C
	}

	var reason Reason
	select {
	case <-ctx.Done():
		_ = conn.Close(websocket.StatusNormalClosure, "")
		reason = Reason{Kind: Cancelled}
	case err := <-readErr:
		_ = conn.CloseNow()
		reason = readReason(err)
	case err := <-pingErr:
		_ = conn.CloseNow()
		reason = Reason{Kind: Error, Text: "no pong or data within the ping timeout: " + err.Error()}
	case <-expiring:
		_ = conn.Close(websocket.StatusNormalClosure, "credential expiring")
		reason = Reason{Kind: CredentialExpiring}
	}
	stop()
	wg.Wait()
	return reason, b.cfg.now().Sub(start)
}

// readLoop hands every incoming message to the handler until the connection fails.
func (b *bridge) readLoop(conn *websocket.Conn, activity *atomic.Uint64) error {
	for {
		typ, data, err := conn.Read(context.Background())
		if err != nil {
			return err
		}
		activity.Add(1)
		kind := Text
		if typ == websocket.MessageBinary {
			kind = Binary
		}
		b.handler.OnMessage(Message{Type: kind, Data: data})
	}
}

// keepalive pings every interval. It returns nil when ctx ends, and an error when a ping got
// no pong within the timeout and no message arrived meanwhile either.
func (b *bridge) keepalive(ctx context.Context, conn *websocket.Conn, activity *atomic.Uint64) error {
	ticker := time.NewTicker(b.cfg.pingInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
		seen := activity.Load()
		pingCtx, cancel := context.WithTimeout(ctx, b.cfg.pingTimeout)
		err := conn.Ping(pingCtx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && activity.Load() == seen {
			return err
		}
	}
}

// untilReconnect is how long a connection with cred may stay up before the proactive
// reconnect: until margin before its expiry, or half its lifetime when that is shorter. It is
// never less than the minimum backoff, so a credential that is already (nearly) expired cannot
// make the bridge reconnect in a tight loop.
func (b *bridge) untilReconnect(cred *oauthsdk.Credential) time.Duration {
	ttl := cred.TTL(b.cfg.now())
	wait := ttl - b.cfg.expiryMargin
	if wait <= 0 {
		wait = ttl / 2
	}
	return max(wait, b.cfg.minBackoff)
}

// readReason turns the error that ended reading into a disconnect reason.
func readReason(err error) Reason {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return Reason{Kind: ClosedByPeer, Code: int(ce.Code), Text: ce.Reason}
	}
	return Reason{Kind: Error, Text: err.Error()}
}
