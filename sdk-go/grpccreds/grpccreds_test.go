package grpccreds

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	oauthsdk "github.com/dromos/nexus/sdk-go"
)

// gateway is a fake Nexus gateway on 127.0.0.1: a plain resolve returns the current token
// ("tok-1" at first), a forced one issues the next (or answers reauth_required).
type gateway struct {
	*httptest.Server
	resolves, forced atomic.Int64
	mu               sync.Mutex
	seq              int
	reauthOnForce    bool
	strategy         map[string]any
}

func newGateway(t testing.TB) *gateway {
	t.Helper()
	g := &gateway{strategy: map[string]any{"type": "oauth2"}}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.resolves.Add(1)
		forced := r.URL.Query().Get("force_refresh") == "true"
		g.mu.Lock()
		defer g.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if forced {
			g.forced.Add(1)
			if g.reauthOnForce {
				w.WriteHeader(http.StatusConflict)
				_ = json.NewEncoder(w).Encode(map[string]any{"error": "reauth_required", "message": "authorize again",
					"reauth_url": "https://nexus.example/reauth"})
				return
			}
		}
		if g.seq == 0 || forced {
			g.seq++
		}
		token := fmt.Sprintf("tok-%d", g.seq)
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": token, "expires_in": 3600,
			"strategy": g.strategy, "credentials": map[string]any{"access_token": token, "api_key": token}})
	}))
	t.Cleanup(g.Close)
	return g
}

// healthServer is a grpc-go health server on 127.0.0.1 whose interceptor accepts only the
// metadata value accept() names, under the key header, and records every value it saw.
type healthServer struct {
	addr   string
	header string
	accept atomic.Value // string; "" rejects everything
	mu     sync.Mutex
	seen   []string
}

func newHealthServer(t *testing.T, header string) *healthServer {
	t.Helper()
	hs := &healthServer{header: header}
	hs.accept.Store("")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs.addr = ln.Addr().String()
	srv := grpc.NewServer(grpc.UnaryInterceptor(hs.check))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return hs
}

func (hs *healthServer) check(ctx context.Context, req any, _ *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	value := strings.Join(md.Get(hs.header), ",")
	hs.mu.Lock()
	hs.seen = append(hs.seen, value)
	hs.mu.Unlock()
	if value == "" || value != hs.accept.Load().(string) {
		return nil, status.Error(codes.Unauthenticated, "bad credential")
	}
	return next(ctx, req)
}

func (hs *healthServer) calls() []string {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return append([]string(nil), hs.seen...)
}

// dial connects to hs with creds and the retrying interceptor, over loopback without TLS.
func dial(t *testing.T, hs *healthServer, creds *Credentials) healthpb.HealthClient {
	t.Helper()
	conn, err := grpc.NewClient(hs.addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(creds),
		grpc.WithUnaryInterceptor(creds.UnaryClientInterceptor()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return healthpb.NewHealthClient(conn)
}

func newCreds(gw *gateway) *Credentials {
	client := oauthsdk.New(gw.URL, oauthsdk.WithRetry(oauthsdk.RetryPolicy{MaxRetries: 0}))
	return New(client, oauthsdk.NewTokenCache(0), "ws_1", "payments", AllowInsecureLoopback())
}

func TestRejectedTokenIsRefreshedAndTheCallRetriedOnce(t *testing.T) {
	gw := newGateway(t)
	hs := newHealthServer(t, "authorization")
	hs.accept.Store("Bearer tok-2") // the server already moved on from tok-1
	client := dial(t, hs, newCreds(gw))
	resp, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("call failed: %v", err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("status %v", resp.GetStatus())
	}
	if got := hs.calls(); len(got) != 2 || got[0] != "Bearer tok-1" || got[1] != "Bearer tok-2" {
		t.Fatalf("server saw %q, want tok-1 then tok-2", got)
	}
	if gw.forced.Load() != 1 {
		t.Fatalf("%d forced refreshes, want 1", gw.forced.Load())
	}
	// The refreshed credential is cached: the next call carries it, with no gateway call.
	before := gw.resolves.Load()
	if _, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	if gw.resolves.Load() != before {
		t.Error("the refreshed credential was not reused from the cache")
	}
}

func TestSecondRejectionIsReturned(t *testing.T) {
	gw := newGateway(t)
	hs := newHealthServer(t, "authorization") // accepts nothing
	client := dial(t, hs, newCreds(gw))
	_, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("got %v, want Unauthenticated", err)
	}
	if n := len(hs.calls()); n != 2 {
		t.Fatalf("server saw %d calls, want 2 (one retry only)", n)
	}
	if gw.forced.Load() != 1 {
		t.Fatalf("%d forced refreshes, want 1", gw.forced.Load())
	}
}

func TestRefreshAnsweringReauthRequiredIsReturnedTyped(t *testing.T) {
	gw := newGateway(t)
	gw.reauthOnForce = true
	hs := newHealthServer(t, "authorization")
	client := dial(t, hs, newCreds(gw))
	_, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{})
	var e *oauthsdk.Error
	if !errors.As(err, &e) || e.Code != oauthsdk.CodeReauthRequired || e.ReauthURL == "" {
		t.Fatalf("got %v, want reauth_required", err)
	}
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("gRPC code %v, want Unauthenticated", status.Code(err))
	}
	if n := len(hs.calls()); n != 1 {
		t.Errorf("server saw %d calls, want 1", n)
	}
}

func TestHeaderStrategyUsesTheLowerCasedHeaderName(t *testing.T) {
	gw := newGateway(t)
	gw.strategy = map[string]any{"type": "header", "config": map[string]any{"header_name": "X-Api-Key"}}
	hs := newHealthServer(t, "x-api-key")
	hs.accept.Store("tok-1")
	if _, err := dial(t, hs, newCreds(gw)).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	if got := hs.calls(); len(got) != 1 || got[0] != "tok-1" {
		t.Fatalf("server saw %q", got)
	}
}

func TestStrategiesThatCannotBeMetadataFailTyped(t *testing.T) {
	gw := newGateway(t)
	gw.strategy = map[string]any{"type": "query_param"}
	hs := newHealthServer(t, "authorization")
	_, err := dial(t, hs, newCreds(gw)).Check(context.Background(), &healthpb.HealthCheckRequest{})
	var e *oauthsdk.Error
	if !errors.As(err, &e) || e.Code != oauthsdk.CodeInvalidStrategyConfig || status.Code(err) != codes.Internal {
		t.Fatalf("got %v, want invalid_strategy_config as Internal", err)
	}
	if n := len(hs.calls()); n != 0 {
		t.Errorf("the call reached the server %d times", n)
	}
	if gw.forced.Load() != 0 {
		t.Error("a strategy error triggered a refresh")
	}
}

func TestUnreachableGatewayIsUnavailableWithoutRetry(t *testing.T) {
	gw := newGateway(t)
	gw.Close()
	hs := newHealthServer(t, "authorization")
	_, err := dial(t, hs, newCreds(gw)).Check(context.Background(), &healthpb.HealthCheckRequest{})
	var e *oauthsdk.Error
	if status.Code(err) != codes.Unavailable || !errors.As(err, &e) || e.Code != oauthsdk.CodeConnectionError {
		t.Fatalf("got %v, want Unavailable / connection_error", err)
	}
	if n := len(hs.calls()); n != 0 {
		t.Errorf("the call reached the server %d times", n)
	}
}

func TestTransportSecurityIsRequiredByDefault(t *testing.T) {
	gw := newGateway(t)
	client := oauthsdk.New(gw.URL)
	creds := New(client, oauthsdk.NewTokenCache(0), "ws_1", "payments")
	if !creds.RequireTransportSecurity() {
		t.Fatal("RequireTransportSecurity is false by default")
	}
	hs := newHealthServer(t, "authorization")
	hs.accept.Store("Bearer tok-1")
	conn, err := grpc.NewClient(hs.addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(creds))
	if err == nil {
		_, err = healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
		conn.Close()
	}
	if err == nil {
		t.Fatal("a credential that requires TLS was sent over plaintext")
	}
	if n := len(hs.calls()); n != 0 {
		t.Errorf("the call reached the server %d times", n)
	}
}

// With AllowInsecureLoopback, a plaintext connection to a host that is not loopback still gets
// no credential (and the gateway is not even asked).
func TestInsecureAllowedOnlyToLoopback(t *testing.T) {
	gw := newGateway(t)
	creds := newCreds(gw)
	if creds.RequireTransportSecurity() {
		t.Fatal("AllowInsecureLoopback did not lift the requirement")
	}
	plain := credentials.NewContextWithRequestInfo(context.Background(), credentials.RequestInfo{
		Method: "/grpc.health.v1.Health/Check", AuthInfo: plaintextInfo{credentials.CommonAuthInfo{SecurityLevel: credentials.NoSecurity}}})
	_, err := creds.GetRequestMetadata(plain, "https://api.example.com/grpc.health.v1.Health")
	if status.Code(err) != codes.Unauthenticated || gw.resolves.Load() != 0 {
		t.Fatalf("got %v with %d resolves, want a refusal before any resolve", err, gw.resolves.Load())
	}
	for _, host := range []string{"127.0.0.1:50051", "localhost:1", "[::1]:443"} {
		md, err := creds.GetRequestMetadata(plain, "https://"+host+"/grpc.health.v1.Health")
		if err != nil || md["authorization"] != "Bearer tok-1" {
			t.Errorf("%s: got %v, %v", host, md, err)
		}
	}
}

func TestMetadataForBasicAuth(t *testing.T) {
	gw := newGateway(t)
	gw.strategy = map[string]any{"type": "basic_auth", "config": map[string]any{"username_field": "api_key", "password_field": "access_token"}}
	creds := newCreds(gw)
	md, err := creds.GetRequestMetadata(context.Background(), "https://127.0.0.1:1/svc")
	if err != nil {
		t.Fatal(err)
	}
	if md["authorization"] != "Basic dG9rLTE6dG9rLTE=" || len(md) != 1 {
		t.Fatalf("metadata %v", md)
	}
}

// plaintextInfo is the AuthInfo of a connection without transport security.
type plaintextInfo struct{ credentials.CommonAuthInfo }

func (plaintextInfo) AuthType() string { return "insecure" }
