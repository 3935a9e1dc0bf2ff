package bridge

import (
	"context"
	"io"
	"os"
	"testing"

	oauthsdk "github.com/dromos/nexus/sdk-go"
)

// stdout belongs to an MCP server's JSON-RPC stream: a bridge going through failures, refreshes
// and a terminal error with the SDK's default logger must not write a byte to it.
func TestNothingIsWrittenToStdout(t *testing.T) {
	gw := newGateway(t)
	up := newUpstream(t, gw)
	up.rejectAll.Store(true)
	client := oauthsdk.New(gw.URL, oauthsdk.WithAPIKey("nx_test_key")) // default logger: stderr

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	captured := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(r)
		captured <- b
	}()
	saved := os.Stdout
	os.Stdout = w
	err = MaintainWebSocket(context.Background(), client, oauthsdk.NewTokenCache(0), "ws_1", "feed",
		up.wsURL(), newRecorder(), fastOptions()...)
	os.Stdout = saved
	w.Close()
	out := within(t, captured, wait, "the captured stdout")
	r.Close()
	if err == nil {
		t.Fatal("expected the terminal unauthorized error")
	}
	if len(out) != 0 {
		t.Fatalf("the bridge wrote to stdout: %q", out)
	}
}
