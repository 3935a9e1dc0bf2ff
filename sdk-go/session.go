package oauthsdk

// Agent sessions: a short-lived, scoped session token used instead of the API key.
//
// StartSession asks the gateway for a session (POST /v1/sessions, authenticated by the API key
// or WithAgentCredential). While it is active every resolve sends the session token. A
// goroutine renews it at 80 % of its lifetime (renewalDelay); a call that finds the token at
// its end renews inline; one mutex makes renewal single-flight. A renewal the gateway refuses
// (4xx other than 429) is kept and returned by every call until CloseSession or a new
// StartSession; transient failures are retried with the client's backoff until expiry.
//
// Cache isolation: the cache key of a resolve includes the session (its first session id,
// stable across renewals), so a session's credentials are never served to another session or
// to the plain API key, and the other way round. Same rule as the Rust core.

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Session is an agent session as the gateway issued it (the current one, after renewals).
type Session struct {
	SessionID string
	// Token is the session token (a JWT); it never prints.
	Token     Secret
	ExpiresIn int64
	ExpiresAt string
	// Scopes are the granted scopes.
	Scopes  []string
	AgentID string
	// Sub is the agent id, or the user for On-Behalf-Of.
	Sub string
	// Act is, for On-Behalf-Of, the acting agent's id.
	Act string
}

// AuthorizeResult is the 200 answer of POST /v1/authorize.
type AuthorizeResult struct {
	Allowed   bool   `json:"allowed"`
	Scope     string `json:"scope"`
	SessionID string `json:"session_id"`
}

// SessionOption adjusts StartSession.
type SessionOption func(*sessionRequest)

type sessionRequest struct {
	scopes          []string
	ttl             time.Duration
	onBehalfOf      Secret
	agentCredential Secret
}

// OnBehalfOf starts an On-Behalf-Of session for the user whose token (a JWT from a trusted
// issuer of the workspace) is subjectToken. The token is kept, as a Secret, for renewals.
func OnBehalfOf(subjectToken string) SessionOption {
	return func(r *sessionRequest) { r.onBehalfOf = Secret(subjectToken) }
}

// WithAgentCredential authenticates the session start with an agent credential (nxa_…)
// instead of the client's API key.
func WithAgentCredential(credential string) SessionOption {
	return func(r *sessionRequest) { r.agentCredential = Secret(credential) }
}

type onBehalfOfBody struct {
	SubjectToken string `json:"subject_token"`
}

type createSessionBody struct {
	Scopes     []string        `json:"scopes"`
	TTLSeconds *int64          `json:"ttl_seconds,omitempty"`
	OnBehalfOf *onBehalfOfBody `json:"on_behalf_of,omitempty"`
}

func (r *sessionRequest) wire() createSessionBody {
	body := createSessionBody{Scopes: r.scopes}
	if body.Scopes == nil {
		body.Scopes = []string{}
	}
	if r.ttl > 0 {
		secs := int64((r.ttl + time.Second - 1) / time.Second)
		body.TTLSeconds = &secs
	}
	if r.onBehalfOf != "" {
		body.OnBehalfOf = &onBehalfOfBody{SubjectToken: r.onBehalfOf.Reveal()}
	}
	return body
}

type sessionBody struct {
	SessionToken *string  `json:"session_token"`
	TokenType    string   `json:"token_type"`
	SessionID    string   `json:"session_id"`
	ExpiresIn    int64    `json:"expires_in"`
	ExpiresAt    string   `json:"expires_at"`
	Scopes       []string `json:"scopes"`
	AgentID      string   `json:"agent_id"`
	Sub          string   `json:"sub"`
	Act          *struct {
		Sub string `json:"sub"`
	} `json:"act"`
}

// parseSession parses and checks a POST /v1/sessions 201 body.
func parseSession(body []byte) (*Session, error) {
	var raw sessionBody
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, sdkError(CodeInvalidResponse, "the session answer is not valid protocol JSON")
	}
	switch {
	case raw.TokenType != "session":
		return nil, sdkError(CodeInvalidResponse, "the session answer's token_type is not `session`")
	case raw.SessionToken == nil || *raw.SessionToken == "" || raw.SessionID == "":
		return nil, sdkError(CodeInvalidResponse, "the session answer lacks a session_token or session_id")
	case raw.ExpiresIn <= 0:
		return nil, sdkError(CodeInvalidResponse, "the session answer's expires_in is not positive")
	}
	s := &Session{
		SessionID: raw.SessionID, Token: Secret(*raw.SessionToken), ExpiresIn: raw.ExpiresIn,
		ExpiresAt: raw.ExpiresAt, Scopes: raw.Scopes, AgentID: raw.AgentID, Sub: raw.Sub,
	}
	if raw.Act != nil {
		s.Act = raw.Act.Sub
	}
	return s, nil
}

// renewalDelay is when a session living expiresIn seconds is renewed: at 80 % of its lifetime.
func renewalDelay(expiresIn int64) time.Duration {
	return time.Duration(expiresIn) * 800 * time.Millisecond
}

// isTerminal reports whether a failed renewal is final (the gateway refused it).
func isTerminal(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.StatusCode >= 400 && e.StatusCode < 500 && e.StatusCode != http.StatusTooManyRequests
}

// lineage is one started session and its renewals.
type lineage struct {
	id      string // the first session id: the cache namespace
	request sessionRequest
	// renewing makes renewal single-flight.
	renewing sync.Mutex
	stop     chan struct{}
	stopOnce sync.Once

	mu         sync.RWMutex
	session    *Session
	renewAt    time.Time
	inlineAt   time.Time // from here on a call renews before using the token
	expiresAt  time.Time
	generation uint64
	failure    error
	closed     bool
}

func (l *lineage) install(s *Session, issued time.Time) {
	lifetime := time.Duration(s.ExpiresIn) * time.Second
	margin := min(lifetime/10, 2*time.Second)
	l.session = s
	l.renewAt = issued.Add(renewalDelay(s.ExpiresIn))
	l.inlineAt = issued.Add(lifetime - margin)
	l.expiresAt = issued.Add(lifetime)
}

func (l *lineage) halt() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.stopOnce.Do(func() { close(l.stop) })
}

var errSessionClosed = sdkError(CodeInvalidRequest, "the session was closed")

// token is the session token to use now, renewed inline when at its end.
func (l *lineage) token(ctx context.Context, c *Client) (Secret, error) {
	l.mu.RLock()
	closed, failure, tok, gen, fresh := l.closed, l.failure, l.session.Token, l.generation, time.Now().Before(l.inlineAt)
	l.mu.RUnlock()
	switch {
	case closed:
		return "", errSessionClosed
	case failure != nil:
		return "", failure
	case fresh:
		return tok, nil
	}
	if err := l.renew(ctx, c, gen); err != nil {
		return "", err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.session.Token, nil
}

// renew replaces the session unless another caller already renewed past seen.
func (l *lineage) renew(ctx context.Context, c *Client, seen uint64) error {
	l.renewing.Lock()
	defer l.renewing.Unlock()
	l.mu.RLock()
	closed, failure, gen := l.closed, l.failure, l.generation
	l.mu.RUnlock()
	switch {
	case closed:
		return errSessionClosed
	case failure != nil:
		return failure
	case gen != seen:
		return nil
	}
	issued := time.Now()
	s, err := c.createSession(ctx, &l.request)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		if isTerminal(err) {
			l.failure = err
		}
		return err
	}
	l.install(s, issued)
	l.generation++
	return nil
}

func (l *lineage) snapshot() *Session {
	l.mu.RLock()
	defer l.mu.RUnlock()
	copied := *l.session
	copied.Scopes = append([]string(nil), l.session.Scopes...)
	return &copied
}

// renewLoop renews at 80 % of each lifetime until stopped or refused.
func (l *lineage) renewLoop(c *Client) {
	attempt := 0
	for {
		l.mu.RLock()
		renewAt, expiresAt, gen := l.renewAt, l.expiresAt, l.generation
		l.mu.RUnlock()
		timer := time.NewTimer(time.Until(renewAt))
		select {
		case <-l.stop:
			timer.Stop()
			return
		case <-timer.C:
		}
		ctx, cancel := context.WithDeadline(context.Background(), expiresAt.Add(30*time.Second))
		err := l.renew(ctx, c, gen)
		cancel()
		switch {
		case err == nil:
			attempt = 0
		case isTerminal(err) || err == errSessionClosed || !time.Now().Before(expiresAt):
			c.logger.Debug("nexus: session renewal stopped", "error", err)
			return
		default:
			wait := max(c.retry.backoff(attempt), 50*time.Millisecond)
			attempt++
			l.mu.Lock()
			if l.generation == gen {
				l.renewAt = time.Now().Add(wait)
				if l.renewAt.After(expiresAt) {
					l.renewAt = expiresAt
				}
			}
			l.mu.Unlock()
		}
	}
}

// sessionSlot holds a client's active session. An atomic pointer: the cache-hit path reads it
// on every call, and a plain load makes no shared write (a read lock would).
type sessionSlot struct {
	current atomic.Pointer[lineage]
}

func (c *Client) activeSession() *lineage {
	return c.sessions.current.Load()
}

// sessionAuth is the credential of a resolve: the session token, or "" for the API key.
func (c *Client) sessionAuth(ctx context.Context, l *lineage) (Secret, error) {
	if l == nil {
		return "", nil
	}
	return l.token(ctx, c)
}

// sessionNamespace is the cache key's session part: the active session's id, "" without one
// (a field of its own in cacheKey, so building the key allocates nothing).
func (c *Client) sessionNamespace() string {
	if l := c.activeSession(); l != nil {
		return l.id
	}
	return ""
}

func (c *Client) createSession(ctx context.Context, r *sessionRequest) (*Session, error) {
	auth := r.agentCredential
	if auth == "" {
		auth = c.apiKey
	}
	body, err := c.do(ctx, call{method: http.MethodPost, path: "/v1/sessions", body: r.wire(),
		sideEffects: true, auth: auth})
	if err != nil {
		return nil, err
	}
	return parseSession(body)
}

// StartSession starts an agent session with the given scopes (empty = every scope the agent
// declared) and ttl (0 = the agent's default; the gateway caps it), and uses its token for
// every resolve from now on. An active session is replaced (and revoked).
func (c *Client) StartSession(ctx context.Context, scopes []string, ttl time.Duration, opts ...SessionOption) (*Session, error) {
	req := sessionRequest{scopes: append([]string(nil), scopes...), ttl: ttl}
	for _, opt := range opts {
		opt(&req)
	}
	issued := time.Now()
	s, err := c.createSession(ctx, &req)
	if err != nil {
		return nil, err
	}
	l := &lineage{id: s.SessionID, request: req, stop: make(chan struct{})}
	l.install(s, issued)
	previous := c.sessions.current.Swap(l)
	go l.renewLoop(c)
	if previous != nil {
		if err := c.revoke(ctx, previous); err != nil {
			c.logger.Debug("nexus: revoking the replaced session failed", "error", err)
		}
	}
	return l.snapshot(), nil
}

// Session returns the active session (after renewals), or nil.
func (c *Client) Session() *Session {
	if l := c.activeSession(); l != nil {
		return l.snapshot()
	}
	return nil
}

// CloseSession revokes the active session (DELETE /v1/sessions/{id}) and goes back to the API
// key. Without a session it does nothing. The session is detached even if revocation fails.
func (c *Client) CloseSession(ctx context.Context) error {
	l := c.sessions.current.Swap(nil)
	if l == nil {
		return nil
	}
	return c.revoke(ctx, l)
}

func (c *Client) revoke(ctx context.Context, l *lineage) error {
	l.mu.RLock()
	id, tok := l.session.SessionID, l.session.Token
	l.mu.RUnlock()
	l.halt()
	_, err := c.do(ctx, call{method: http.MethodDelete, path: "/v1/sessions/" + url.PathEscape(id), auth: tok})
	return err
}

// Authorize asks whether scope is granted to the active session (and, for On-Behalf-Of, to
// its user). A refusal is an *Error with CodeScopeNotAllowed or CodeUserNotAuthorizedForScope.
func (c *Client) Authorize(ctx context.Context, scope string) (*AuthorizeResult, error) {
	l := c.activeSession()
	if l == nil {
		return nil, sdkError(CodeInvalidRequest, "no active session")
	}
	tok, err := l.token(ctx, c)
	if err != nil {
		return nil, err
	}
	body, err := c.do(ctx, call{method: http.MethodPost, path: "/v1/authorize",
		body: map[string]string{"scope": scope}, auth: tok})
	if err != nil {
		return nil, err
	}
	var out AuthorizeResult
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, sdkError(CodeInvalidResponse, "the authorize answer is not valid protocol JSON")
	}
	return &out, nil
}
