package oauthsdk

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"
)

// DefaultTTL is how long a credential without any expiry information is considered valid.
const DefaultTTL = 300 * time.Second

// MaxTTL is the longest lifetime trusted (10 × 365 days); larger values are capped so that
// clock arithmetic cannot overflow.
const MaxTTL = 10 * 365 * 24 * time.Hour

// Secret is a string whose String, GoString, LogValue and JSON forms never show the value, so
// that printing or logging a value holding one cannot leak it. Call Reveal to use it.
type Secret string

// Reveal returns the secret value.
func (s Secret) Reveal() string { return string(s) }

// String returns "[redacted]".
func (s Secret) String() string { return "[redacted]" }

// GoString returns "[redacted]" (for %#v).
func (s Secret) GoString() string { return `"[redacted]"` }

// LogValue keeps the value out of log/slog records.
func (s Secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// MarshalJSON writes "[redacted]".
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }

// StrategySpec is a strategy as it travels on the wire: {"type": T, "config": {…}}. It is kept
// loose so that an unknown type reaches the caller as a typed error, not a parse failure.
type StrategySpec struct {
	// Type is the strategy name: oauth2, header, query_param, basic_auth, hmac_payload,
	// aws_sigv4 (and the aliases bearer and api_key).
	Type string `json:"type"`
	// Config holds the strategy's settings; absent settings take their documented defaults.
	Config map[string]any `json:"config,omitempty"`
}

// Credential is a resolved, short-lived credential with the strategy that injects it. It is
// immutable once built and safe to share between goroutines. Printing it shows field names
// only.
type Credential struct {
	// AccessToken is the OAuth access token (empty for some static credentials).
	AccessToken Secret
	// TokenType is the token type, "Bearer" by default.
	TokenType string
	// ExpiresAt is the wall-clock expiry the gateway reported (zero when it sent none).
	ExpiresAt time.Time
	// Strategy says how to inject the credential into an upstream request.
	Strategy StrategySpec
	// Scopes granted to the credential.
	Scopes []string
	// APIBaseURL is the provider's API base URL, when the gateway knows it.
	APIBaseURL string
	// ScopeEnforcement is "token" or "advisory" for agent sessions, empty otherwise.
	ScopeEnforcement string
	// ConnectionID is the connection this credential belongs to.
	ConnectionID string

	// fields holds the credential fields a strategy reads, already in their string form.
	fields map[string]Secret
	// expiry is when the credential stops being valid, on the clock that received it (it keeps
	// Go's monotonic reading when that clock is time.Now, so wall-clock jumps do not matter).
	expiry time.Time
}

// Field returns a credential field (access_token, api_key, username, …) as a string: JSON
// strings as they are, numbers and booleans in their JSON form. ok is false when the field is
// missing, null, an object or an array.
func (c *Credential) Field(name string) (value Secret, ok bool) {
	v, ok := c.fields[name]
	return v, ok
}

// FieldNames lists the credential fields present, sorted.
func (c *Credential) FieldNames() []string {
	names := make([]string, 0, len(c.fields))
	for k := range c.fields {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// Expiry returns when the credential stops being valid (before any cache safety buffer).
func (c *Credential) Expiry() time.Time { return c.expiry }

// TTL returns how long the credential stays valid from now, never negative.
func (c *Credential) TTL(now time.Time) time.Duration {
	if d := c.expiry.Sub(now); d > 0 {
		return d
	}
	return 0
}

// String shows the strategy, the field names and the expiry, never a value.
func (c *Credential) String() string {
	return fmt.Sprintf("Credential{strategy: %s, fields: [%s], expires: %s}",
		c.Strategy.Type, strings.Join(c.FieldNames(), " "), c.expiry.UTC().Format(time.RFC3339))
}

// GoString is String (for %#v), so that no formatting verb prints a value.
func (c *Credential) GoString() string { return c.String() }

// LogValue keeps credential values out of log/slog records.
func (c *Credential) LogValue() slog.Value { return slog.StringValue(c.String()) }

// resolveBody is the 200 body of GET /v1/resolve (protocol/src/resolve.rs).
type resolveBody struct {
	AccessToken      *string                    `json:"access_token"`
	TokenType        string                     `json:"token_type"`
	ExpiresAt        json.RawMessage            `json:"expires_at"`
	ExpiresIn        *int64                     `json:"expires_in"`
	Strategy         *StrategySpec              `json:"strategy"`
	Credentials      map[string]json.RawMessage `json:"credentials"`
	Scopes           []string                   `json:"scopes"`
	APIBaseURL       string                     `json:"api_base_url"`
	ScopeEnforcement string                     `json:"scope_enforcement"`
	ConnectionID     string                     `json:"connection_id"`
}

// invalidResolveBody never quotes the body (a JSON error could, and the body is secret).
func invalidResolveBody() *Error {
	return &Error{Code: CodeInvalidResponse, Message: "the gateway's resolve response is not valid protocol JSON"}
}

// parseCredential decodes a resolve body received at now. The error never quotes the body,
// which holds secrets.
func parseCredential(body []byte, now time.Time) (*Credential, error) {
	var raw resolveBody
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, invalidResolveBody()
	}
	if raw.Strategy == nil {
		return nil, sdkError(CodeInvalidResponse, "the gateway's resolve response has no strategy")
	}
	c := &Credential{
		TokenType:        raw.TokenType,
		Strategy:         *raw.Strategy,
		Scopes:           raw.Scopes,
		APIBaseURL:       raw.APIBaseURL,
		ScopeEnforcement: raw.ScopeEnforcement,
		ConnectionID:     raw.ConnectionID,
		fields:           make(map[string]Secret, len(raw.Credentials)),
	}
	if c.TokenType == "" {
		c.TokenType = "Bearer"
	}
	if raw.AccessToken != nil {
		c.AccessToken = Secret(*raw.AccessToken)
	}
	for name, value := range raw.Credentials {
		if s, ok := scalarString(value); ok {
			c.fields[name] = Secret(s)
		}
	}
	// OAuth responses carry the token at the top level; strategies read credential fields, so
	// it is made available there when the gateway did not repeat it.
	if _, repeated := raw.Credentials["access_token"]; !repeated && raw.AccessToken != nil {
		c.fields["access_token"] = c.AccessToken
	}
	expiresAtText, err := expiresAtText(raw.ExpiresAt)
	if err != nil {
		return nil, err
	}
	expiresAt, hasExpiresAt := parseExpiresAt(expiresAtText)
	if hasExpiresAt {
		c.ExpiresAt = expiresAt
	}
	c.expiry = computeExpiry(raw.ExpiresIn, expiresAt, hasExpiresAt, now)
	return c, nil
}

// computeExpiry applies the rule shared by every SDK: expires_in (relative to now, so it is
// immune to clock skew with the server), else expires_at, else the 300 s default; never more
// than MaxTTL ahead. The result is anchored on now, so it keeps now's monotonic reading.
func computeExpiry(expiresIn *int64, expiresAt time.Time, hasExpiresAt bool, now time.Time) time.Time {
	var ttl time.Duration
	switch {
	case expiresIn != nil:
		secs := *expiresIn
		if secs < 0 {
			secs = 0
		}
		if secs > int64(MaxTTL/time.Second) {
			secs = int64(MaxTTL / time.Second)
		}
		ttl = time.Duration(secs) * time.Second
	case hasExpiresAt:
		ttl = expiresAt.Sub(now) // saturates instead of overflowing
	default:
		ttl = DefaultTTL
	}
	return now.Add(min(max(ttl, 0), MaxTTL))
}

// expiresAtText returns expires_at as text: a string as is, a JSON number in its literal form
// (older servers send epoch seconds or milliseconds), nil when absent or null. Any other JSON
// type makes the response invalid, as in the other SDKs.
func expiresAtText(raw json.RawMessage) (*string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var text string
	switch {
	case raw[0] == '"':
		if err := json.Unmarshal(raw, &text); err != nil {
			return nil, invalidResolveBody()
		}
	case raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9'):
		text = string(raw)
	default:
		return nil, invalidResolveBody()
	}
	return &text, nil
}

// epochMillisThreshold separates epoch seconds from epoch milliseconds: 10^11 seconds is the
// year 5138, 10^11 milliseconds is 1973.
const epochMillisThreshold = 100_000_000_000

// parseExpiresAt reads expires_at: RFC 3339, or a string of epoch seconds / milliseconds.
// ok is false when it is absent or unreadable (the 300 s default then applies).
func parseExpiresAt(text *string) (time.Time, bool) {
	if text == nil {
		return time.Time{}, false
	}
	t := strings.TrimSpace(*text)
	if at, err := time.Parse(time.RFC3339Nano, t); err == nil {
		return at, true
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	if n >= epochMillisThreshold || n <= -epochMillisThreshold {
		return time.UnixMilli(n), true
	}
	return time.Unix(n, 0), true
}

// scalarString is a credential field as a string, as the Rust core's Credentials::get_str:
// strings as they are, numbers and booleans in their JSON text; nothing for null, objects and
// arrays.
func scalarString(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", false
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", false
		}
		return s, true
	case 't', 'f':
		return string(raw), string(raw) == "true" || string(raw) == "false"
	case 'n', '{', '[':
		return "", false
	default:
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return "", false
		}
		return n.String(), true
	}
}
