// Package grpccreds authenticates gRPC calls with a Nexus credential.
//
// [New] returns per-call credentials (a credentials.PerRPCCredentials) that take the credential
// of one (workspace, provider) pair from the oauthsdk token cache and put it into the call's
// metadata with the strategy the gateway named: oauth2 → "authorization: Bearer …", header →
// the header name lower-cased, basic_auth → "authorization: Basic …". Strategies that sign a
// request body or URL (hmac_payload, aws_sigv4, query_param) have no meaning for gRPC metadata
// and fail the call with a typed error.
//
// [Credentials.UnaryClientInterceptor] adds the retry: when the server answers
// UNAUTHENTICATED, the cached credential is dropped, a new one is resolved with force_refresh,
// and the call is made once more. A second rejection is returned to the caller.
//
//	creds := grpccreds.New(nexus, cache, workspaceID, "payments")
//	conn, err := grpc.NewClient(target,
//		grpc.WithTransportCredentials(credentials.NewTLS(nil)),
//		grpc.WithPerRPCCredentials(creds),
//		grpc.WithUnaryInterceptor(creds.UnaryClientInterceptor()))
//
// It never writes to stdout; it logs through the oauthsdk client's logger.
package grpccreds

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	oauthsdk "github.com/dromos/nexus/sdk-go"
)

// Credentials are the per-call credentials of one (workspace, provider) pair. They are safe
// for concurrent use by any number of connections and calls.
type Credentials struct {
	client              *oauthsdk.Client
	cache               *oauthsdk.TokenCache
	workspace, provider string
	insecureLoopback    bool
	now                 func() time.Time
}

// Option configures Credentials.
type Option func(*Credentials)

// AllowInsecureLoopback lets the credentials travel over a connection without transport
// security, but only to a loopback address (127.0.0.0/8, ::1, localhost): for tests and
// sidecars on the same machine. Without it, RequireTransportSecurity is true and gRPC refuses
// to send them over an insecure connection.
func AllowInsecureLoopback() Option {
	return func(c *Credentials) { c.insecureLoopback = true }
}

// New returns per-call credentials for (workspaceID, provider), served from cache.
func New(client *oauthsdk.Client, cache *oauthsdk.TokenCache, workspaceID, provider string, opts ...Option) *Credentials {
	c := &Credentials{client: client, cache: cache, workspace: workspaceID, provider: provider, now: time.Now}
	for _, opt := range opts {
		opt(c)
	}
	return c
}

var _ credentials.PerRPCCredentials = (*Credentials)(nil)

// RequireTransportSecurity implements credentials.PerRPCCredentials: true unless
// AllowInsecureLoopback was given.
func (c *Credentials) RequireTransportSecurity() bool { return !c.insecureLoopback }

// GetRequestMetadata implements credentials.PerRPCCredentials: the credential from the cache,
// injected as metadata by its strategy.
func (c *Credentials) GetRequestMetadata(ctx context.Context, uri ...string) (map[string]string, error) {
	state, _ := ctx.Value(callStateKey{}).(*callState)
	md, cred, err := c.metadata(ctx, uri)
	if state != nil {
		state.record(cred, err)
	}
	if err != nil {
		return nil, err
	}
	return md, nil
}

// metadata does the work of GetRequestMetadata and says which credential it used.
func (c *Credentials) metadata(ctx context.Context, uri []string) (map[string]string, *oauthsdk.Credential, error) {
	if c.insecureLoopback && !secureConnection(ctx) && !loopbackAudience(uri) {
		return nil, nil, &Error{code: codes.Unauthenticated, Err: &oauthsdk.Error{Code: oauthsdk.CodeInvalidRequest,
			Message: "refusing to send a credential without transport security to a host that is not loopback"}}
	}
	cred, err := c.client.GetCachedToken(ctx, c.cache, c.workspace, c.provider)
	if err != nil {
		return nil, nil, wrap(err)
	}
	md, err := metadataFor(cred, c.now())
	if err != nil {
		return nil, cred, wrap(err)
	}
	return md, cred, nil
}

// metadataFor applies cred's strategy to a stand-in HTTP request and returns the headers it
// set, with lower-case names as gRPC metadata requires. The strategy engine is the SDK's own.
func metadataFor(cred *oauthsdk.Credential, now time.Time) (map[string]string, error) {
	strategy, err := oauthsdk.ParseStrategy(cred.Strategy)
	if err != nil {
		return nil, err
	}
	switch strategy.Kind {
	case oauthsdk.StrategyOAuth2, oauthsdk.StrategyHeader, oauthsdk.StrategyBasicAuth:
	default:
		return nil, &oauthsdk.Error{Code: oauthsdk.CodeInvalidStrategyConfig,
			Message: "strategy " + strategy.Kind + " cannot be carried in gRPC metadata"}
	}
	req := &http.Request{Method: http.MethodPost, URL: &url.URL{Scheme: "https", Host: "grpc.invalid", Path: "/"},
		Header: http.Header{}}
	if err := strategy.Apply(req, cred, nil, now); err != nil {
		return nil, err
	}
	md := make(map[string]string, len(req.Header))
	for name, values := range req.Header {
		if len(values) > 0 {
			md[strings.ToLower(name)] = values[0]
		}
	}
	return md, nil
}

// UnaryClientInterceptor retries a call once, with a force-refreshed credential, when the
// server answers UNAUTHENTICATED. When the refresh itself fails (e.g. reauth_required) that
// error is returned: status.Code gives Unauthenticated and errors.As an *oauthsdk.Error.
func (c *Credentials) UnaryClientInterceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn,
		invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		used, err := c.invoke(ctx, method, req, reply, cc, invoker, opts)
		if err == nil || used == nil || status.Code(err) != codes.Unauthenticated {
			return err
		}
		c.client.Logger().LogAttrs(ctx, slog.LevelInfo, "nexus grpc: UNAUTHENTICATED, refreshing credential",
			slog.String("provider", c.provider), slog.String("method", method))
		c.client.InvalidateCachedToken(c.cache, c.workspace, c.provider)
		if _, rerr := c.client.RefreshCachedToken(ctx, c.cache, c.workspace, c.provider, used); rerr != nil {
			c.client.Logger().LogAttrs(ctx, slog.LevelWarn, "nexus grpc: credential refresh failed",
				slog.String("provider", c.provider), slog.String("error", rerr.Error()))
			return wrap(rerr)
		}
		_, err = c.invoke(ctx, method, req, reply, cc, invoker, opts)
		return err
	}
}

// invoke makes one call and reports the credential it carried. When the failure came from
// the credentials themselves (not from the server), that typed error is returned instead of
// gRPC's status copy, and used is nil so that no refresh is attempted.
func (c *Credentials) invoke(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn,
	invoker grpc.UnaryInvoker, opts []grpc.CallOption) (*oauthsdk.Credential, error) {
	state := &callState{}
	err := invoker(context.WithValue(ctx, callStateKey{}, state), method, req, reply, cc, opts...)
	used, credErr := state.result()
	if err != nil && credErr != nil {
		return nil, credErr
	}
	return used, err
}

// callState lets GetRequestMetadata tell the interceptor which credential a call carried.
type callState struct {
	mu   sync.Mutex
	cred *oauthsdk.Credential
	err  error
}

type callStateKey struct{}

func (s *callState) record(cred *oauthsdk.Credential, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cred, s.err = cred, err
}

func (s *callState) result() (*oauthsdk.Credential, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cred, s.err
}

// Error is an SDK error surfaced through gRPC: status.Code(err) gives its gRPC code, and
// errors.As(err, &*oauthsdk.Error) the SDK error with its Nexus code (reauth_required, …).
type Error struct {
	Err  error
	code codes.Code
}

// Error returns the SDK error's text (which never contains a credential).
func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns the SDK error.
func (e *Error) Unwrap() error { return e.Err }

// GRPCStatus lets status.Code and status.FromError read the mapped code.
func (e *Error) GRPCStatus() *status.Status { return status.New(e.code, e.Err.Error()) }

// wrap maps an SDK error to a gRPC code. Only codes that gRPC lets per-call credentials
// return are used (no InvalidArgument, FailedPrecondition, …).
func wrap(err error) error {
	var already *Error
	if errors.As(err, &already) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &Error{Err: err, code: status.FromContextError(err).Code()}
	}
	code := codes.Unauthenticated
	var e *oauthsdk.Error
	if errors.As(err, &e) {
		switch e.Code {
		case oauthsdk.CodeForbidden, oauthsdk.CodeScopeNotAllowed, oauthsdk.CodeUserNotAuthorizedForScope:
			code = codes.PermissionDenied
		case oauthsdk.CodeConnectionError, oauthsdk.CodeUpstreamUnavailable, oauthsdk.CodeRateLimited:
			code = codes.Unavailable
		case oauthsdk.CodeTimeout:
			code = codes.DeadlineExceeded
		case oauthsdk.CodeUnknownStrategy, oauthsdk.CodeInvalidStrategyConfig, oauthsdk.CodeMissingCredentialField,
			oauthsdk.CodeInvalidCredentialValue, oauthsdk.CodeInvalidResponse, oauthsdk.CodeInternalError:
			code = codes.Internal
		}
	}
	return &Error{Err: err, code: code}
}

// secureConnection reports whether the call's connection has privacy and integrity (TLS).
func secureConnection(ctx context.Context) bool {
	ri, ok := credentials.RequestInfoFromContext(ctx)
	return ok && credentials.CheckSecurityLevel(ri.AuthInfo, credentials.PrivacyAndIntegrity) == nil
}

// loopbackAudience reports whether the call goes to a loopback host. gRPC passes the audience
// as "https://<authority>/<service>".
func loopbackAudience(uri []string) bool {
	if len(uri) == 0 {
		return false
	}
	u, err := url.Parse(uri[0])
	if err != nil {
		return false
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
