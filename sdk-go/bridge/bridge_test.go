package bridge

import (
	"context"
	"errors"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	oauthsdk "github.com/dromos/nexus/sdk-go"
)

const wait = 10 * time.Second

// The upstream drops connections at random while the gateway rotates the token on every
// resolve: the bridge must reconnect each time, and every handshake must carry the token that
// is current at that moment (a reused cached token would be rejected and recorded).
func TestReconnectsAfterRandomDropsWithTheCurrentCredential(t *testing.T) {
	gw := newGateway(t)
	gw.set(func(g *gateway) { g.rotate = true })
	up := newUpstream(t, gw)
	up.serve = up.dropAtRandom(42)
	rec := newRecorder()
	sleeps := &sleepRecorder{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := run(ctx, newClient(gw, nil), up.wsURL(), rec, append(fastOptions(), sleeps.option())...)

	const connections = 8
	for i := 0; i < connections; i++ {
		within(t, rec.connects, wait, "a connection")
		if i < connections-1 {
			within(t, rec.disconnects, wait, "a drop")
		}
	}
	cancel()
	if err := within(t, done, wait, "MaintainWebSocket to return"); err != nil {
		t.Fatalf("cancelled bridge returned %v, want nil", err)
	}

	attempts := up.snapshot()
	if len(attempts) < connections {
		t.Fatalf("upstream saw %d handshakes, want at least %d", len(attempts), connections)
	}
	for i, a := range attempts {
		if !a.accepted {
			t.Errorf("handshake %d carried %q, which was not the current token", i, a.token)
		}
		if i > 0 && a.token == attempts[i-1].token {
			t.Errorf("handshake %d reused the token of the previous one (%q): no fresh resolve", i, a.token)
		}
	}
	if got := gw.resolves.Load(); got != int64(len(attempts)) {
		t.Errorf("gateway saw %d resolves for %d handshakes, want one per handshake", got, len(attempts))
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var byPeer, byError int
	for _, r := range rec.reasons[:connections-1] {
		switch {
		case r.Kind == ClosedByPeer && r.Code == int(websocket.StatusServiceRestart) && r.Text == "restarting":
			byPeer++
		case r.Kind == Error:
			byError++
		default:
			t.Errorf("unexpected disconnect reason %v", r)
		}
	}
	if byPeer == 0 || byError == 0 {
		t.Errorf("the seeded drops should include both kinds; got %d close frames, %d cut streams", byPeer, byError)
	}
	if last := rec.reasons[len(rec.reasons)-1]; last.Kind != Cancelled {
		t.Errorf("last reason is %v, want cancelled", last)
	}
}

// Every delay between attempts lies in [min, min(max, min·2ⁿ)] for the n-th consecutive
// failure, and the upstream never sees two attempts closer together than the delay asked for.
func TestBackoffStaysWithinBounds(t *testing.T) {
	gw := newGateway(t)
	up := newUpstream(t, gw)
	up.status.Store(503)
	rec := newRecorder()
	var delays []time.Duration
	var gaps []time.Duration
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const minDelay, maxDelay = 20 * time.Millisecond, 200 * time.Millisecond
	const want = 7
	sleep := func(c *config) {
		c.sleep = func(ctx context.Context, d time.Duration) error {
			delays = append(delays, d) // only the bridge goroutine calls sleep
			if len(delays) == want {
				cancel()
			}
			return sleepCtx(ctx, d)
		}
	}
	done := run(ctx, newClient(gw, nil), up.wsURL(), rec, WithBackoff(minDelay, maxDelay), sleep)
	if err := within(t, done, wait, "MaintainWebSocket to return"); err != nil {
		t.Fatalf("cancelled bridge returned %v, want nil", err)
	}
	if len(delays) != want {
		t.Fatalf("recorded %d delays, want %d", len(delays), want)
	}
	distinct := map[time.Duration]bool{}
	for n, d := range delays {
		hi := min(maxDelay, minDelay<<n)
		if d < minDelay || d > hi {
			t.Errorf("delay %d = %v, want within [%v, %v]", n, d, minDelay, hi)
		}
		distinct[d] = true
	}
	if len(distinct) < 3 {
		t.Errorf("delays %v show no jitter", delays)
	}
	attempts := up.snapshot()
	for i := 1; i < len(attempts); i++ {
		gaps = append(gaps, attempts[i].at.Sub(attempts[i-1].at))
	}
	for i, g := range gaps {
		if g < delays[i] {
			t.Errorf("attempts %d and %d were %v apart, less than the delay %v", i, i+1, g, delays[i])
		}
	}
	// Every attempt after the first resolved afresh (the first may use the cache).
	if got := gw.resolves.Load(); got != int64(len(attempts)) {
		t.Errorf("gateway saw %d resolves for %d attempts", got, len(attempts))
	}
}

// Once a connection has stayed up for stable_after, the failure count starts again at zero:
// with a tiny stable_after every delay is drawn from [min, min], i.e. is exactly min.
func TestStableConnectionResetsTheBackoff(t *testing.T) {
	gw := newGateway(t)
	up := newUpstream(t, gw)
	up.serve = func(ctx context.Context, c *websocket.Conn) {
		time.Sleep(20 * time.Millisecond) // the upstream's own behaviour: a short-lived session
		_ = c.Close(websocket.StatusGoingAway, "bye")
	}
	rec := newRecorder()
	sleeps := &sleepRecorder{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := run(ctx, newClient(gw, nil), up.wsURL(), rec,
		WithBackoff(50*time.Millisecond, time.Second), WithStableAfter(time.Millisecond), sleeps.option())
	for i := 0; i < 4; i++ {
		within(t, rec.connects, wait, "a connection")
		r := within(t, rec.disconnects, wait, "a disconnect")
		if r.Kind != ClosedByPeer || r.Code != int(websocket.StatusGoingAway) {
			t.Fatalf("reason %v, want closed_by_peer(1001, bye)", r)
		}
	}
	cancel()
	within(t, done, wait, "MaintainWebSocket to return")
	for n, d := range sleeps.snapshot() {
		if d != 50*time.Millisecond {
			t.Errorf("delay %d = %v, want exactly the floor after a stable connection", n, d)
		}
	}
}

// The upstream rejects the handshake (401) and the gateway cannot refresh: the bridge stops
// with reauth_required after one forced refresh instead of looping.
func TestRejectedHandshakeThenReauthRequiredStops(t *testing.T) {
	gw := newGateway(t)
	gw.set(func(g *gateway) { g.reauthOnForce = true })
	up := newUpstream(t, gw)
	up.rejectAll.Store(true)
	rec := newRecorder()
	done := run(context.Background(), newClient(gw, nil), up.wsURL(), rec, fastOptions()...)
	err := within(t, done, wait, "MaintainWebSocket to give up")
	var e *oauthsdk.Error
	if !errors.As(err, &e) || e.Code != oauthsdk.CodeReauthRequired || e.ReauthURL != reauthURL {
		t.Fatalf("got %v, want reauth_required with the reauth URL", err)
	}
	if n := len(up.snapshot()); n != 1 {
		t.Errorf("upstream saw %d handshakes, want 1", n)
	}
	if gw.forced.Load() != 1 {
		t.Errorf("gateway saw %d forced refreshes, want 1", gw.forced.Load())
	}
	if len(rec.connects) != 0 {
		t.Error("OnConnect was called without a connection")
	}
}

// A connection is up, then the credential is revoked: the connection drops, the next resolve
// answers reauth_required, and the bridge returns it.
func TestRevokedWhileConnectedEndsInReauthRequired(t *testing.T) {
	gw := newGateway(t)
	up := newUpstream(t, gw)
	kick := make(chan struct{})
	up.serve = func(ctx context.Context, c *websocket.Conn) {
		<-kick
		_ = c.Close(websocket.StatusPolicyViolation, "revoked")
	}
	rec := newRecorder()
	done := run(context.Background(), newClient(gw, nil), up.wsURL(), rec, fastOptions()...)
	within(t, rec.connects, wait, "the first connection")
	gw.set(func(g *gateway) { g.reauth = true })
	close(kick)
	r := within(t, rec.disconnects, wait, "the drop")
	if r.Kind != ClosedByPeer || r.Code != int(websocket.StatusPolicyViolation) || r.Text != "revoked" {
		t.Errorf("reason %v, want closed_by_peer(1008, revoked)", r)
	}
	err := within(t, done, wait, "MaintainWebSocket to give up")
	var e *oauthsdk.Error
	if !errors.As(err, &e) || e.Code != oauthsdk.CodeReauthRequired {
		t.Fatalf("got %v, want reauth_required", err)
	}
}

// The upstream rejects even freshly refreshed credentials: after the first (cached) rejection
// and three fresh ones the bridge stops with unauthorized.
func TestUpstreamRejectingFreshCredentialsStopsAfterThree(t *testing.T) {
	gw := newGateway(t)
	up := newUpstream(t, gw)
	up.rejectAll.Store(true)
	done := run(context.Background(), newClient(gw, nil), up.wsURL(), newRecorder(), fastOptions()...)
	err := within(t, done, wait, "MaintainWebSocket to give up")
	var e *oauthsdk.Error
	if !errors.As(err, &e) || e.Code != oauthsdk.CodeUnauthorized || e.StatusCode != 401 {
		t.Fatalf("got %v, want unauthorized (401)", err)
	}
	attempts := up.snapshot()
	if len(attempts) != 4 || gw.forced.Load() != 3 {
		t.Fatalf("saw %d handshakes and %d forced refreshes, want 4 and 3", len(attempts), gw.forced.Load())
	}
	for i := 1; i < len(attempts); i++ {
		if attempts[i].token == attempts[i-1].token {
			t.Errorf("handshake %d did not carry a refreshed token", i)
		}
	}
}

// An expired token (the upstream answers 401) is replaced by a forced refresh, and the next
// handshake with the new token succeeds.
func TestExpiredTokenIsRefreshedBeforeTheNextAttempt(t *testing.T) {
	gw := newGateway(t)
	up := newUpstream(t, gw)
	client := newClient(gw, nil)
	cache := oauthsdk.NewTokenCache(0)
	// Warm the cache with tok-1, then make the gateway move on to tok-2 behind its back (as if
	// the provider had rotated it): the cached tok-1 is now expired for the upstream.
	if _, err := client.GetCachedToken(context.Background(), cache, "ws_1", "feed"); err != nil {
		t.Fatal(err)
	}
	gw.set(func(g *gateway) { g.current = "tok-rotated" })
	rec := newRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- MaintainWebSocket(ctx, client, cache, "ws_1", "feed", up.wsURL(), rec, fastOptions()...)
	}()
	within(t, rec.connects, wait, "a connection")
	cancel()
	within(t, done, wait, "MaintainWebSocket to return")
	attempts := up.snapshot()
	if len(attempts) != 2 || attempts[0].accepted || attempts[0].token != "tok-1" || !attempts[1].accepted {
		t.Fatalf("attempts %+v: want tok-1 rejected, then the refreshed token accepted", attempts)
	}
	if gw.forced.Load() != 1 {
		t.Errorf("gateway saw %d forced refreshes, want 1", gw.forced.Load())
	}
}

// Messages flow both ways: OnConnect's sender reaches the upstream, which echoes, and the echo
// arrives in OnMessage.
func TestSendAndReceive(t *testing.T) {
	gw := newGateway(t)
	up := newUpstream(t, gw)
	rec := newRecorder()
	sent := make(chan error, 2)
	rec.onConnect = func(s Sender) {
		sent <- s.SendText(context.Background(), "hello")
		sent <- s.SendBinary(context.Background(), []byte{1, 2, 3})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := run(ctx, newClient(gw, nil), up.wsURL(), rec, fastOptions()...)
	s := within(t, rec.connects, wait, "a connection")
	for i := 0; i < 2; i++ {
		if err := within(t, sent, wait, "a send"); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(wait)
	for {
		rec.mu.Lock()
		n := len(rec.messages)
		rec.mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d echoed messages, want 2", n)
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline
	}
	rec.mu.Lock()
	m0, m1 := rec.messages[0], rec.messages[1]
	rec.mu.Unlock()
	if m0.Type != Text || string(m0.Data) != "hello" || m1.Type != Binary || string(m1.Data) != "\x01\x02\x03" {
		t.Errorf("echoes %+v %+v", m0, m1)
	}
	cancel()
	within(t, done, wait, "MaintainWebSocket to return")
	if err := s.SendText(context.Background(), "late"); err == nil {
		t.Error("a sender of a closed connection still sends")
	}
}

// An upstream that stops answering pings is treated as dropped, and the bridge reconnects.
func TestMissedPongDropsAndReconnects(t *testing.T) {
	gw := newGateway(t)
	up := newUpstream(t, gw)
	up.noPong.Store(true)
	rec := newRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := run(ctx, newClient(gw, nil), up.wsURL(), rec,
		append(fastOptions(), WithPing(30*time.Millisecond, 60*time.Millisecond))...)
	within(t, rec.connects, wait, "a connection")
	r := within(t, rec.disconnects, wait, "the keepalive to give up")
	if r.Kind != Error || !strings.Contains(r.Text, "ping timeout") {
		t.Errorf("reason %v, want an error about the ping timeout", r)
	}
	up.noPong.Store(false)
	within(t, rec.connects, wait, "a reconnection")
	cancel()
	within(t, done, wait, "MaintainWebSocket to return")
}

// A message over the read limit ends the connection with an error reason.
func TestMessageOverTheLimitDisconnects(t *testing.T) {
	gw := newGateway(t)
	up := newUpstream(t, gw)
	up.serve = func(ctx context.Context, c *websocket.Conn) {
		_ = c.Write(ctx, websocket.MessageBinary, make([]byte, 2048))
		up.echo(ctx, c)
	}
	rec := newRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := run(ctx, newClient(gw, nil), up.wsURL(), rec, append(fastOptions(), WithReadLimit(1024))...)
	within(t, rec.connects, wait, "a connection")
	r := within(t, rec.disconnects, wait, "the disconnect")
	if r.Kind != Error || !strings.Contains(r.Text, "read limited") {
		t.Errorf("reason %v, want an error about the read limit", r)
	}
	if code := within(t, up.closes, wait, "the close code"); code != websocket.StatusMessageTooBig {
		t.Errorf("upstream saw close code %v, want 1009", code)
	}
	rec.mu.Lock()
	if len(rec.messages) != 0 {
		t.Error("the oversized message reached OnMessage")
	}
	rec.mu.Unlock()
	cancel()
	within(t, done, wait, "MaintainWebSocket to return")
}

// With the proactive reconnect on, the bridge closes the connection before the credential
// expires and reconnects at once with a force-refreshed credential.
func TestProactiveReconnectBeforeExpiry(t *testing.T) {
	gw := newGateway(t)
	gw.set(func(g *gateway) { g.expiresIn = 2 })
	up := newUpstream(t, gw)
	rec := newRecorder()
	sleeps := &sleepRecorder{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := run(ctx, newClient(gw, nil), up.wsURL(), rec,
		append(fastOptions(), sleeps.option(), WithReconnectBeforeExpiry(1900*time.Millisecond))...)
	within(t, rec.connects, wait, "a connection")
	r := within(t, rec.disconnects, wait, "the proactive reconnect")
	if r.Kind != CredentialExpiring {
		t.Fatalf("reason %v, want credential_expiring", r)
	}
	within(t, rec.connects, wait, "the reconnection")
	cancel()
	within(t, done, wait, "MaintainWebSocket to return")
	attempts := up.snapshot()
	if len(attempts) < 2 || attempts[0].token == attempts[1].token || !attempts[1].accepted {
		t.Fatalf("attempts %+v: want a second handshake with a new token", attempts)
	}
	if gw.forced.Load() < 1 {
		t.Error("the new credential was not force-refreshed")
	}
	if code := within(t, up.closes, wait, "the close code"); code != websocket.StatusNormalClosure {
		t.Errorf("the expiring connection was closed with %v, want a normal close", code)
	}
	if d := sleeps.snapshot(); len(d) != 0 {
		t.Errorf("a proactive reconnect waited %v; it is not a failure", d)
	}
}

// Cancelling the context closes the socket with a normal close frame, reports cancelled,
// returns nil promptly and leaves no goroutine behind.
func TestCancelClosesNormallyAndLeaksNothing(t *testing.T) {
	gw := newGateway(t)
	up := newUpstream(t, gw)
	rec := newRecorder()
	baseline := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	done := run(ctx, newClient(gw, nil), up.wsURL(), rec,
		append(fastOptions(), WithPing(10*time.Millisecond, time.Second))...)
	within(t, rec.connects, wait, "a connection")
	cancel()
	if err := within(t, done, wait, "MaintainWebSocket to return"); err != nil {
		t.Fatalf("got %v, want nil", err)
	}
	if r := within(t, rec.disconnects, wait, "the disconnect"); r.Kind != Cancelled {
		t.Errorf("reason %v, want cancelled", r)
	}
	if code := within(t, up.closes, wait, "the close code"); code != websocket.StatusNormalClosure {
		t.Errorf("upstream saw close code %v, want 1000", code)
	}
	waitNoLeaks(t, baseline)
}

// Cancelling while waiting between attempts returns at once too.
func TestCancelDuringBackoffReturns(t *testing.T) {
	gw := newGateway(t)
	up := newUpstream(t, gw)
	up.status.Store(503)
	baseline := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	waiting := make(chan struct{})
	var once bool
	hook := func(c *config) {
		c.sleep = func(ctx context.Context, d time.Duration) error {
			if !once {
				once = true
				close(waiting)
			}
			return sleepCtx(ctx, time.Hour)
		}
	}
	done := run(ctx, newClient(gw, nil), up.wsURL(), newRecorder(), hook)
	within(t, waiting, wait, "the first backoff")
	cancel()
	if err := within(t, done, wait, "MaintainWebSocket to return"); err != nil {
		t.Fatalf("got %v, want nil", err)
	}
	waitNoLeaks(t, baseline)
}

// waitNoLeaks polls (with a deadline) until no goroutine of the bridge or of the WebSocket
// library is left and the count is back to the baseline.
func waitNoLeaks(t *testing.T, baseline int) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		// A rejected handshake is an ordinary HTTP response: its connection may sit in the
		// default transport's idle pool, which is not the bridge's to own.
		http.DefaultClient.CloseIdleConnections()
		stacks := allStacks()
		leaked := bridgeGoroutines(stacks)
		if len(leaked) == 0 && runtime.NumGoroutine() <= baseline {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines left behind (%d now, %d before):\n%s", runtime.NumGoroutine(), baseline, stacks)
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}
}

func allStacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

// bridgeGoroutines returns the stacks that run code of this package (other than the tests) or
// of the WebSocket library.
func bridgeGoroutines(stacks string) []string {
	var out []string
	for _, g := range strings.Split(stacks, "\n\n") {
		if strings.Contains(g, "coder/websocket") ||
			(strings.Contains(g, "sdk-go/bridge.") && !strings.Contains(g, "_test.go") && !strings.Contains(g, "testing.")) {
			out = append(out, g)
		}
	}
	return out
}

// An upstream that accepts TCP but never answers the handshake costs one handshake timeout
// per attempt, and the bridge keeps trying.
func TestHandshakeTimeoutCountsAsAFailure(t *testing.T) {
	gw := newGateway(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c // hold it open, say nothing
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for len(accepted) > 0 {
			(<-accepted).Close()
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := run(ctx, newClient(gw, nil), "ws://"+ln.Addr().String()+"/stream", newRecorder(),
		append(fastOptions(), WithHandshakeTimeout(50*time.Millisecond))...)
	for i := 0; i < 2; i++ {
		within(t, accepted, wait, "a connection attempt").Close()
	}
	cancel()
	if err := within(t, done, wait, "MaintainWebSocket to return"); err != nil {
		t.Fatal(err)
	}
}
