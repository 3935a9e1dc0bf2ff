package oauthsdk

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Error codes sent by the gateway (protocol v1, see protocol/src/error.rs). A server may send a
// code this version does not know; it is kept as is in [Error.Code].
const (
	// CodeInvalidRequest — 400: a parameter is missing, repeated or malformed (also: the upstream request to sign is malformed).
	CodeInvalidRequest = "invalid_request"
	// CodeUnauthorized — 401: no API key, or an unknown, revoked or expired one.
	CodeUnauthorized = "unauthorized"
	// CodeForbidden — 403: the caller is known but may not do this (e.g. another workspace).
	CodeForbidden = "forbidden"
	// CodeNotFound — 404: no such route or resource.
	CodeNotFound = "not_found"
	// CodeConnectionNotFound — 404: no connection for this provider / id in the workspace.
	CodeConnectionNotFound = "connection_not_found"
	// CodeProviderNotFound — 404: no provider of that name.
	CodeProviderNotFound = "provider_not_found"
	// CodeReauthRequired — 409: a person must authorize the connection again (see Error.ReauthURL).
	CodeReauthRequired = "reauth_required"
	// CodeConnectionNotActive — 409: the connection exists but is not usable yet.
	CodeConnectionNotActive = "connection_not_active"
	// CodePayloadTooLarge — 413: the request body or headers are too large.
	CodePayloadTooLarge = "payload_too_large"
	// CodeRequestTimeout — 408: the request body stopped arriving before the server's body timeout.
	CodeRequestTimeout = "request_timeout"
	// CodeRateLimited — 429: slow down (see Error.RetryAfter).
	CodeRateLimited = "rate_limited"
	// CodeUpstreamUnavailable — 502/503: the provider or the broker failed or is unreachable.
	CodeUpstreamUnavailable = "upstream_unavailable"
	// CodeScopeNotAllowed — 403: a session asked for a scope its agent did not declare.
	CodeScopeNotAllowed = "scope_not_allowed"
	// CodeUserNotAuthorizedForScope — 403: an On-Behalf-Of user lacks the scope.
	CodeUserNotAuthorizedForScope = "user_not_authorized_for_scope"
	// CodeInvalidSubjectToken — 401: the On-Behalf-Of user token is invalid, expired or untrusted.
	CodeInvalidSubjectToken = "invalid_subject_token"
	// CodeInternalError — 500: a server fault, never a client mistake.
	CodeInternalError = "internal_error"
	// Proxy mode (issue 16).
	// CodeInsufficientScope — 403: the agent session holds no scope whose proxy rule allows this call.
	CodeInsufficientScope = "insufficient_scope"
	// CodeInvalidProxyPath — 400: the proxied path was refused (traversal, bad or double encoding).
	CodeInvalidProxyPath = "invalid_proxy_path"
	// CodeProxyHostNotAllowed — 400: `Nexus-Proxy-Host` is not in the provider's `proxy.allowed_hosts`.
	CodeProxyHostNotAllowed = "proxy_host_not_allowed"
	// CodeProxyNotEnabled — 404: the provider has no `api_base_url` or its proxy is disabled.
	CodeProxyNotEnabled = "proxy_not_enabled"
	// CodeUpstreamTimeout — 504: the upstream sent no response headers within the proxy timeout.
	CodeUpstreamTimeout = "upstream_timeout"
	// MCP authorization (issue 17).
	// CodeConnectionRequired — 409: the MCP user must connect the provider at the error's connect link.
	CodeConnectionRequired = "connection_required"
)

// Error kinds raised by the SDK itself while applying a strategy. They are identical in every
// Nexus SDK (tests/vectors/README.md).
const (
	// CodeUnknownStrategy: strategy.type is not one of the six strategies.
	CodeUnknownStrategy = "unknown_strategy"
	// CodeInvalidStrategyConfig: a config field has the wrong type or value, a header name is
	// not an HTTP token, or a config value contains CR, LF or NUL.
	CodeInvalidStrategyConfig = "invalid_strategy_config"
	// CodeMissingCredentialField: the strategy needs a credential field the response lacks.
	CodeMissingCredentialField = "missing_credential_field"
	// CodeInvalidCredentialValue: a credential value contains CR, LF or NUL.
	CodeInvalidCredentialValue = "invalid_credential_value"
	// CodeInvalidRequest (shared with the protocol) is also used when the upstream request to
	// sign is malformed, e.g. its URL is not absolute.
)

// Error codes of failures on the client side of the gateway call; the Rust core reports the
// same strings.
const (
	// CodeConnectionError: the gateway could not be reached (DNS, refused, TLS, reset), after
	// the configured retries.
	CodeConnectionError = "connection_error"
	// CodeTimeout: the gateway call did not complete within the HTTP client's timeout.
	CodeTimeout = "timeout"
	// CodeInvalidResponse: the gateway answered something that is not protocol v1 (an HTML
	// error page, a body of the wrong shape).
	CodeInvalidResponse = "invalid_response"
	// CodeConnectionFailed: WaitForActive saw the connection reach a state it will not leave by
	// itself (needs_reauth, with ReauthURL when known; revoked; failed).
	CodeConnectionFailed = "connection_failed"
	// CodeWaitAborted: WaitForActive stopped because its context was cancelled or timed out
	// (errors.Is(err, context.DeadlineExceeded) still works).
	CodeWaitAborted = "wait_aborted"
)

// Error is the one error type of this package; use errors.As to read it. It never contains a
// credential value.
type Error struct {
	// Code is the protocol error code, or one of the SDK's own kinds (CodeUnknownStrategy, …).
	Code string
	// Message is human-readable and safe to show.
	Message string
	// StatusCode is the gateway's HTTP status, or 0 when the error happened in the SDK.
	StatusCode int
	// RequestID is the gateway's request id, when it sent one.
	RequestID string
	// ReauthURL is, with CodeReauthRequired, where a person can authorize the connection again.
	ReauthURL string
	// RetryAfter is, with CodeRateLimited, how long the gateway asked the client to wait.
	RetryAfter time.Duration
	// Err is the underlying cause (a network error, a JSON error), if any.
	Err error
}

// Error formats the error as "nexus: <code>: <message> (HTTP <status>, request <id>)".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("nexus: ")
	b.WriteString(e.Code)
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.StatusCode != 0 || e.RequestID != "" {
		b.WriteString(" (")
		if e.StatusCode != 0 {
			fmt.Fprintf(&b, "HTTP %d", e.StatusCode)
		}
		if e.RequestID != "" {
			if e.StatusCode != 0 {
				b.WriteString(", ")
			}
			b.WriteString("request ")
			b.WriteString(e.RequestID)
		}
		b.WriteString(")")
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Error kinds: the coarse category of an error, the same strings the Rust core (and through it
// Python and Node) reports; tests/vectors/client_behaviour.json holds the code → kind table.
const (
	KindAPI             = "api"              // the gateway answered with a protocol error
	KindStrategy        = "strategy"         // the credential cannot produce a safe request
	KindInvalidInput    = "invalid_input"    // the request handed to the SDK is malformed
	KindTransport       = "transport"        // the gateway could not be reached in time
	KindInvalidResponse = "invalid_response" // the gateway answered something not protocol v1
	KindConnection      = "connection"       // WaitForActive stopped
)

// Kind returns the error's category (KindAPI, KindStrategy, …). invalid_request is KindAPI when
// the gateway sent it and KindInvalidInput when the SDK refused the request itself.
func (e *Error) Kind() string {
	switch e.Code {
	case CodeUnknownStrategy, CodeInvalidStrategyConfig, CodeMissingCredentialField, CodeInvalidCredentialValue:
		return KindStrategy
	case CodeConnectionError, CodeTimeout:
		return KindTransport
	case CodeInvalidResponse:
		return KindInvalidResponse
	case CodeConnectionFailed, CodeWaitAborted:
		return KindConnection
	case CodeInvalidRequest:
		if e.StatusCode == 0 {
			return KindInvalidInput
		}
	}
	return KindAPI
}

// sdkError builds an error raised by the SDK itself (no HTTP status).
func sdkError(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// errorBody is the protocol's error envelope; error and message are required.
type errorBody struct {
	Error      *string `json:"error"`
	Message    *string `json:"message"`
	RequestID  string  `json:"request_id"`
	ReauthURL  string  `json:"reauth_url"`
	RetryAfter *uint64 `json:"retry_after"`
}

// errorFromResponse turns a non-2xx gateway response into an *Error. A body that is not the
// protocol envelope (a proxy's HTML page, say) still gives a typed error, with a code derived
// from the status; the body itself is never copied into the message.
func errorFromResponse(status int, header http.Header, body []byte) *Error {
	e := &Error{StatusCode: status}
	var env errorBody
	if err := json.Unmarshal(body, &env); err == nil && env.Error != nil && env.Message != nil {
		e.Code = *env.Error
		e.Message = *env.Message
		e.RequestID = env.RequestID
		e.ReauthURL = env.ReauthURL
		if env.RetryAfter != nil {
			e.RetryAfter = time.Duration(min(*env.RetryAfter, uint64(MaxTTL/time.Second))) * time.Second
		}
	} else {
		e.Code = CodeInvalidResponse
		e.Message = fmt.Sprintf("the gateway answered HTTP %d without a Nexus error body", status)
	}
	if e.RequestID == "" && header != nil {
		e.RequestID = header.Get("X-Request-Id")
	}
	if header != nil {
		if d, ok := parseRetryAfter(header.Get("Retry-After"), time.Now()); ok {
			e.RetryAfter = d
		}
	}
	return e
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP-date.
func parseRetryAfter(value string, now time.Time) (time.Duration, bool) {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0, false
	}
	if secs, err := strconv.ParseUint(value, 10, 64); err == nil {
		// Cap far below time.Duration's range; any such wait is refused by the retry policy.
		return time.Duration(min(secs, uint64(MaxTTL/time.Second))) * time.Second, true
	}
	if at, err := http.ParseTime(value); err == nil {
		if d := at.Sub(now); d > 0 {
			return d, true
		}
		return 0, true
	}
	return 0, false
}
