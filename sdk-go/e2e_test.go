package oauthsdk

// End to end against the real stack: `nexus dev` (broker + gateway on loopback, SQLite) and the
// testkit echo upstream. The binaries come from NEXUS_BIN / NEXUS_TESTKIT_BIN (default: the
// workspace's debug builds). When they are missing the test is skipped, unless
// NEXUS_REQUIRE_STACK=1 (CI), where it fails.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// stackStartTimeout bounds how long `nexus dev` and the echo server may take to come up.
const stackStartTimeout = 60 * time.Second

func TestEndToEndAgainstNexusDev(t *testing.T) {
	nexusBin := binaryPath(t, "NEXUS_BIN", "../target/debug/nexus")
	testkitBin := binaryPath(t, "NEXUS_TESTKIT_BIN", "../target/debug/nexus-testkit")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	echoURL := startEcho(t, testkitBin)
	env := startNexusDev(t, nexusBin)
	admin := adminClient{t: t, base: env["NEXUS_BROKER_URL"], token: env["NEXUS_ADMIN_TOKEN"]}
	ws := env["NEXUS_WORKSPACE_ID"]

	// A static provider whose credential goes in X-API-Key, and a credential imported for it.
	secret := "sk-e2e-" + randomHex(t)
	admin.post("/admin/v1/providers", map[string]any{
		"name": "echo", "auth_type": "api_key", "api_base_url": echoURL,
		"strategy": map[string]any{"type": "header", "config": map[string]any{"header_name": "X-API-Key"}},
	}, nil)
	var connection struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	admin.post("/admin/v1/workspaces/"+ws+"/connections/import",
		map[string]any{"provider_name": "echo", "kind": "api_key", "secret": secret}, &connection)
	if connection.ID == "" || connection.Status != StatusActive {
		t.Fatalf("import answered %+v", connection)
	}
	// The echo server now refuses any request without exactly this credential.
	postJSON(t, echoURL+"/_control/require", "", map[string]any{"kind": "header", "name": "x-api-key", "value": secret}, nil)

	nexus := New(env["NEXUS_GATEWAY_URL"], WithAPIKey(env["NEXUS_API_KEY"]))
	cache := NewTokenCache(30 * time.Second)
	client := nexus.AuthenticatedHTTPClient(cache, ws, "echo")

	t.Run("resolve and call the upstream", func(t *testing.T) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, echoURL+"/v1/items?per_page=10", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var echo struct {
			Path    string            `json:"path"`
			Query   map[string]string `json:"query"`
			Headers map[string]string `json:"headers"`
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("upstream answered %d", resp.StatusCode)
		}
		if err := json.NewDecoder(resp.Body).Decode(&echo); err != nil {
			t.Fatal(err)
		}
		if echo.Headers["x-api-key"] != secret || echo.Path != "/v1/items" || echo.Query["per_page"] != "10" {
			t.Fatalf("upstream saw %+v", echo)
		}
		if _, leaked := echo.Headers["authorization"]; leaked {
			t.Fatal("the API key strategy must not also send Authorization")
		}
	})

	t.Run("proxy mode: the gateway injects, this process never holds the credential", func(t *testing.T) {
		proxied := nexus.ProxyHTTPClient(ws, "echo")
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "/v1/items?per_page=10", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-API-Key", "caller-own")
		resp, err := proxied.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var echo struct {
			Path    string            `json:"path"`
			Query   map[string]string `json:"query"`
			Headers map[string]string `json:"headers"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&echo); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("proxied call: %d %v", resp.StatusCode, err)
		}
		if echo.Headers["x-api-key"] != secret || echo.Path != "/v1/items" || echo.Query["per_page"] != "10" {
			t.Fatalf("upstream saw %+v", echo)
		}
		if _, leaked := echo.Headers["authorization"]; leaked {
			t.Fatal("the Nexus credential reached the upstream")
		}
		// The gateway's own refusal is a typed error; an upstream's status would not be.
		bad, _ := http.NewRequestWithContext(ctx, http.MethodGet, "/a/%252e%252e/b", nil)
		_, err = proxied.Do(bad)
		var nexusErr *Error
		if !errors.As(err, &nexusErr) || nexusErr.Code != CodeInvalidProxyPath || nexusErr.StatusCode != http.StatusBadRequest {
			t.Fatalf("path escape: %v", err)
		}
		// A dot segment is refused before sending, as by every SDK.
		dots, _ := http.NewRequestWithContext(ctx, http.MethodGet, "/a/%2e%2e/b", nil)
		if _, err = proxied.Do(dots); !errors.As(err, &nexusErr) || nexusErr.Code != CodeInvalidRequest {
			t.Fatalf("dot segment: %v", err)
		}
	})

	t.Run("credential shape and cache", func(t *testing.T) {
		cred, err := nexus.GetCachedToken(ctx, cache, ws, "echo")
		if err != nil {
			t.Fatal(err)
		}
		if cred.Strategy.Type != StrategyHeader || cred.ConnectionID != connection.ID || cred.APIBaseURL != echoURL {
			t.Fatalf("credential %v (connection %q)", cred, cred.ConnectionID)
		}
		// No expiry on a static credential: the 300 s default.
		if ttl := cred.TTL(time.Now()); ttl <= 0 || ttl > DefaultTTL {
			t.Fatalf("ttl %v", ttl)
		}
	})

	t.Run("lifecycle by connection id", func(t *testing.T) {
		status, err := nexus.WaitForActive(ctx, connection.ID, 100*time.Millisecond)
		if err != nil || status.Status != StatusActive {
			t.Fatalf("WaitForActive: %+v %v", status, err)
		}
		cred, err := nexus.GetToken(ctx, connection.ID)
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := cred.Field("api_key"); v.Reveal() != secret {
			t.Fatal("GetToken returned another credential")
		}
	})

	t.Run("rotated credential: 401, forced refresh, one retry", func(t *testing.T) {
		rotated := "sk-e2e-rotated-" + randomHex(t)
		admin.post("/admin/v1/workspaces/"+ws+"/connections/import",
			map[string]any{"provider_name": "echo", "kind": "api_key", "secret": rotated}, nil)
		postJSON(t, echoURL+"/_control/require", "", map[string]any{"kind": "header", "name": "x-api-key", "value": rotated}, nil)
		// The cache still holds the old secret: the upstream refuses it, the transport refreshes.
		resp, err := client.Post(echoURL+"/v1/items", "application/json", strings.NewReader(`{"n":1}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("after rotation the upstream answered %d", resp.StatusCode)
		}
		cred, err := nexus.GetCachedToken(ctx, cache, ws, "echo")
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := cred.Field("api_key"); v.Reveal() != rotated {
			t.Fatal("the cache does not hold the rotated credential")
		}
	})

	t.Run("typed errors from the real gateway", func(t *testing.T) {
		_, err := nexus.ResolveToken(ctx, ws, "no-such-provider")
		var e *Error
		if !errors.As(err, &e) || e.StatusCode != http.StatusNotFound || e.RequestID == "" {
			t.Fatalf("unknown provider: %+v", err)
		}
		stranger := New(env["NEXUS_GATEWAY_URL"], WithAPIKey("nxk_not_a_key"))
		_, err = stranger.ResolveToken(ctx, ws, "echo")
		if !errors.As(err, &e) || e.Code != CodeUnauthorized || e.StatusCode != http.StatusUnauthorized {
			t.Fatalf("bad API key: %+v", err)
		}
		if strings.Contains(err.Error(), secret) {
			t.Fatal("an error message carries the credential")
		}
	})
}

// binaryPath returns an executable from env (or its default, relative to sdk-go/), skipping
// the test when it does not exist unless NEXUS_REQUIRE_STACK=1.
func binaryPath(t *testing.T, envName, fallback string) string {
	t.Helper()
	path := os.Getenv(envName)
	if path == "" {
		path = fallback
	}
	abs, err := filepath.Abs(path)
	if err == nil {
		if info, statErr := os.Stat(abs); statErr == nil && !info.IsDir() && info.Mode()&0o111 != 0 {
			return abs
		}
	}
	if os.Getenv("NEXUS_REQUIRE_STACK") == "1" {
		t.Fatalf("%s: no executable at %s (NEXUS_REQUIRE_STACK=1)", envName, path)
	}
	t.Skipf("%s: no executable at %s; build the workspace or set %s", envName, path, envName)
	return ""
}

// startEcho runs `nexus-testkit echo` and returns its URL.
func startEcho(t *testing.T, bin string) string {
	t.Helper()
	var announce struct {
		URL string `json:"url"`
	}
	startTestkit(t, bin, "echo", &announce)
	if announce.URL == "" {
		t.Fatal("nexus-testkit echo announced no URL")
	}
	return announce.URL
}

// startTestkit runs `nexus-testkit <kind>` and decodes its first stdout line (its JSON
// announcement) into announce. Its stdin is a pipe that is closed at cleanup, which is how the
// testkit knows to stop.
func startTestkit(t *testing.T, bin, kind string, announce any) {
	t.Helper()
	cmd := exec.Command(bin, kind)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		stopProcess(t, cmd, "nexus-testkit "+kind)
	})
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- l
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case l := <-line:
		if err := json.Unmarshal([]byte(l), announce); err != nil {
			t.Fatalf("nexus-testkit %s announced %q (stderr: %s)", kind, l, stderr.String())
		}
	case <-time.After(stackStartTimeout):
		t.Fatalf("nexus-testkit %s did not announce itself (stderr: %s)", kind, stderr.String())
	}
}

// startNexusDev runs `nexus dev` in a temporary home and returns the settings of dev.env once
// the stack has written it.
func startNexusDev(t *testing.T, bin string) map[string]string {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(bin, "dev", "--home", home, "--gateway-addr", "127.0.0.1:0", "--broker-addr", "127.0.0.1:0")
	var output lockedBuffer
	cmd.Stdout = &output
	cmd.Stderr = &output
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { stopStarted(t, cmd, exited, "nexus dev") })

	devEnv := filepath.Join(home, "dev.env")
	deadline := time.Now().Add(stackStartTimeout)
	for {
		// dev.env is written atomically once both servers listen.
		if text, err := os.ReadFile(devEnv); err == nil {
			env := parseEnvFile(string(text))
			for _, key := range []string{"NEXUS_GATEWAY_URL", "NEXUS_BROKER_URL", "NEXUS_ADMIN_TOKEN", "NEXUS_API_KEY", "NEXUS_WORKSPACE_ID"} {
				if env[key] == "" {
					t.Fatalf("dev.env has no %s", key)
				}
			}
			return env
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("nexus dev exited before writing dev.env (%v): %s", err, output.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("nexus dev wrote no dev.env within %v: %s", stackStartTimeout, output.String())
		}
	}
}

// stopProcess asks a started process to stop (SIGINT where supported) and kills it after a
// grace period.
func stopProcess(t *testing.T, cmd *exec.Cmd, name string) {
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopStarted(t, cmd, exited, name)
}

func stopStarted(t *testing.T, cmd *exec.Cmd, exited chan error, name string) {
	if cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(os.Interrupt)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Logf("%s did not stop on interrupt; killing it", name)
		_ = cmd.Process.Kill()
		<-exited
	}
}

func parseEnvFile(text string) map[string]string {
	env := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			env[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	return env
}

// adminClient calls the broker's admin API.
type adminClient struct {
	t     *testing.T
	base  string
	token string
}

func (a adminClient) post(path string, body, out any) {
	a.t.Helper()
	postJSON(a.t, a.base+path, a.token, body, out)
}

// postJSON posts body as JSON and decodes a 2xx answer into out (when not nil).
func postJSON(t *testing.T, url, bearer string, body, out any) {
	t.Helper()
	payload, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("POST %s: HTTP %d: %s", url, resp.StatusCode, answer)
	}
	if out != nil {
		if err := json.Unmarshal(answer, out); err != nil {
			t.Fatalf("POST %s: %v", url, err)
		}
	}
}

func randomHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// lockedBuffer collects a child's output from its copying goroutine while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return fmt.Sprintf("%q", b.buf.String())
}
