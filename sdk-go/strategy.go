package oauthsdk

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The six strategies, by wire name.
const (
	// StrategyOAuth2: header_name: value_prefix + access_token (alias bearer).
	StrategyOAuth2 = "oauth2"
	// StrategyHeader: header_name: value_prefix + api_key (alias api_key).
	StrategyHeader = "header"
	// StrategyQueryParam: ?param_name=api_key, appended to the URL query.
	StrategyQueryParam = "query_param"
	// StrategyBasicAuth: Authorization: Basic base64(username:password).
	StrategyBasicAuth = "basic_auth"
	// StrategyHMACPayload: header_name: HMAC of the exact body bytes.
	StrategyHMACPayload = "hmac_payload"
	// StrategyAWSSigV4: AWS Signature Version 4 (header form).
	StrategyAWSSigV4 = "aws_sigv4"
)

// Strategy is a validated strategy with every default filled in; it mirrors the Rust
// nexus_protocol::Strategy. Only the fields of its Kind are set.
type Strategy struct {
	// Kind is the canonical wire name (aliases are resolved: bearer → oauth2, api_key → header).
	Kind string
	// HeaderName: oauth2, header, hmac_payload.
	HeaderName string
	// ValuePrefix: oauth2, header.
	ValuePrefix string
	// CredentialField: oauth2, header, query_param.
	CredentialField string
	// ParamName: query_param.
	ParamName string
	// UsernameField, PasswordField: basic_auth.
	UsernameField, PasswordField string
	// SecretField, Algo ("sha256" or "sha1"), Encoding ("hex" or "base64"): hmac_payload.
	SecretField, Algo, Encoding string
	// Region, Service: aws_sigv4.
	Region, Service string
}

// configReader reads a strategy's config with the validation rules of the protocol crate.
type configReader struct {
	strategy string
	config   map[string]any
}

func (r configReader) invalid(field, expected string) *Error {
	return sdkError(CodeInvalidStrategyConfig, "strategy %q: config field %q must be %s", r.strategy, field, expected)
}

// str returns a config string; ok is false when the field is absent or null.
func (r configReader) str(field string) (value string, ok bool, err error) {
	v, present := r.config[field]
	if !present || v == nil {
		return "", false, nil
	}
	s, isString := v.(string)
	if !isString {
		return "", false, r.invalid(field, "a string")
	}
	if hasForbiddenChar(s) {
		return "", false, sdkError(CodeInvalidStrategyConfig, "strategy %q: %q contains CR, LF or NUL", r.strategy, field)
	}
	return s, true, nil
}

func (r configReader) strOr(field, fallback string) (string, error) {
	s, ok, err := r.str(field)
	if err != nil || !ok {
		return fallback, err
	}
	return s, nil
}

// nameOr is a string that must also be non-empty (field names, parameter names).
func (r configReader) nameOr(field, fallback string) (string, error) {
	s, err := r.strOr(field, fallback)
	if err == nil && s == "" {
		err = r.invalid(field, "a non-empty string")
	}
	return s, err
}

func (r configReader) required(field string) (string, error) {
	s, ok, err := r.str(field)
	if err != nil {
		return "", err
	}
	if !ok || s == "" {
		return "", sdkError(CodeInvalidStrategyConfig, "strategy %q: config field %q is required", r.strategy, field)
	}
	return s, nil
}

func (r configReader) headerNameOr(fallback string) (string, error) {
	name, err := r.strOr("header_name", fallback)
	if err == nil && !isHTTPToken(name) {
		err = sdkError(CodeInvalidStrategyConfig, "%q is not a valid HTTP header name", name)
	}
	return name, err
}

// oneOf reads a case-insensitive enumerated value.
func (r configReader) oneOf(field, fallback string, allowed ...string) (string, error) {
	s, err := r.strOr(field, fallback)
	if err != nil {
		return "", err
	}
	s = strings.ToLower(s)
	for _, a := range allowed {
		if s == a {
			return s, nil
		}
	}
	return "", r.invalid(field, "one of "+strings.Join(allowed, ", "))
}

// ParseStrategy validates a wire strategy and fills in its defaults, exactly as the Rust
// Strategy::from_spec. Errors are *Error with CodeUnknownStrategy or CodeInvalidStrategyConfig.
func ParseStrategy(spec StrategySpec) (*Strategy, error) {
	r := configReader{strategy: spec.Type, config: spec.Config}
	var s Strategy
	var err error
	// Each step records only the first error; later steps are skipped once err is set.
	step := func(dst *string, read func() (string, error)) {
		if err == nil {
			*dst, err = read()
		}
	}
	switch spec.Type {
	case "oauth2", "bearer":
		s.Kind = StrategyOAuth2
		step(&s.HeaderName, func() (string, error) { return r.headerNameOr("Authorization") })
		step(&s.ValuePrefix, func() (string, error) { return r.strOr("value_prefix", "Bearer ") })
		step(&s.CredentialField, func() (string, error) { return r.nameOr("credential_field", "access_token") })
	case "header", "api_key":
		s.Kind = StrategyHeader
		step(&s.HeaderName, func() (string, error) { return r.headerNameOr("Authorization") })
		defaultPrefix := ""
		if strings.EqualFold(s.HeaderName, "authorization") {
			defaultPrefix = "Bearer "
		}
		step(&s.ValuePrefix, func() (string, error) { return r.strOr("value_prefix", defaultPrefix) })
		step(&s.CredentialField, func() (string, error) { return r.nameOr("credential_field", "api_key") })
	case "query_param":
		s.Kind = StrategyQueryParam
		step(&s.ParamName, func() (string, error) { return r.nameOr("param_name", "api_key") })
		step(&s.CredentialField, func() (string, error) { return r.nameOr("credential_field", "api_key") })
	case "basic_auth":
		s.Kind = StrategyBasicAuth
		step(&s.UsernameField, func() (string, error) { return r.nameOr("username_field", "username") })
		step(&s.PasswordField, func() (string, error) { return r.nameOr("password_field", "password") })
	case "hmac_payload":
		s.Kind = StrategyHMACPayload
		step(&s.HeaderName, func() (string, error) { return r.headerNameOr("X-Signature") })
		step(&s.SecretField, func() (string, error) { return r.nameOr("secret_field", "secret") })
		step(&s.Algo, func() (string, error) { return r.oneOf("algo", "sha256", "sha256", "sha1") })
		step(&s.Encoding, func() (string, error) { return r.oneOf("encoding", "hex", "hex", "base64") })
	case "aws_sigv4":
		s.Kind = StrategyAWSSigV4
		step(&s.Region, func() (string, error) { return r.required("region") })
		step(&s.Service, func() (string, error) { return r.required("service") })
	default:
		return nil, sdkError(CodeUnknownStrategy, "unknown strategy type %q", spec.Type)
	}
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// RequiredFields lists the credential fields this strategy reads; a credential must carry all
// of them (SigV4's optional session_token is not listed).
func (s *Strategy) RequiredFields() []string {
	switch s.Kind {
	case StrategyOAuth2, StrategyHeader, StrategyQueryParam:
		return []string{s.CredentialField}
	case StrategyBasicAuth:
		return []string{s.UsernameField, s.PasswordField}
	case StrategyHMACPayload:
		return []string{s.SecretField}
	case StrategyAWSSigV4:
		return []string{"access_key", "secret_key"}
	default:
		return nil
	}
}

// headerSafeField reads a required credential field: missing or empty is
// CodeMissingCredentialField, a control character is CodeInvalidCredentialValue.
func (s *Strategy) headerSafeField(cred *Credential, name string) (string, error) {
	v, present, err := s.optionalField(cred, name)
	if err == nil && !present {
		err = sdkError(CodeMissingCredentialField, "strategy %q needs credential field %q, which is missing or empty", s.Kind, name)
	}
	return v, err
}

// optionalField reads a credential field that may be absent (or empty, which counts as absent).
func (s *Strategy) optionalField(cred *Credential, name string) (value string, present bool, err error) {
	v, ok := cred.Field(name)
	if !ok || v == "" {
		return "", false, nil
	}
	if hasControlChar(string(v)) {
		return "", false, s.invalidValue(name)
	}
	return string(v), true, nil
}

func (s *Strategy) invalidValue(field string) *Error {
	return sdkError(CodeInvalidCredentialValue, "strategy %q: credential field %q has an invalid value", s.Kind, field)
}

// Apply injects the credential into req, which it modifies: pass a clone (the transport does).
// body is the exact request body (nil for none); hmac_payload and aws_sigv4 sign it, and the
// caller must make req.Body carry the same bytes. now is the signing clock (SigV4's
// X-Amz-Date). Injected headers replace any header of the same name.
//
// The rules are the Rust core's, checked in the same order, so every SDK gives the same result
// or the same error kind on the shared vectors.
func (s *Strategy) Apply(req *http.Request, cred *Credential, body []byte, now time.Time) error {
	if err := validateRequest(req); err != nil {
		return err
	}
	if req.Header == nil { // a hand-built request may have none
		req.Header = http.Header{}
	}
	switch s.Kind {
	case StrategyOAuth2, StrategyHeader:
		value, err := s.headerSafeField(cred, s.CredentialField)
		if err != nil {
			return err
		}
		if hasControlChar(s.ValuePrefix) {
			return sdkError(CodeInvalidStrategyConfig, "strategy %q: value_prefix contains a control character", s.Kind)
		}
		setHeaderAsDeclared(req.Header, s.HeaderName, s.ValuePrefix+value)
	case StrategyQueryParam:
		value, err := s.headerSafeField(cred, s.CredentialField)
		if err != nil {
			return err
		}
		setQueryParam(req.URL, s.ParamName, value)
	case StrategyBasicAuth:
		user, err := s.headerSafeField(cred, s.UsernameField)
		if err != nil {
			return err
		}
		// RFC 7617: the user-id cannot contain a colon (it would shift into the password).
		if strings.Contains(user, ":") {
			return s.invalidValue(s.UsernameField)
		}
		password, err := s.headerSafeField(cred, s.PasswordField)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+password)))
	case StrategyHMACPayload:
		secret, err := s.headerSafeField(cred, s.SecretField)
		if err != nil {
			return err
		}
		setHeaderAsDeclared(req.Header, s.HeaderName, s.hmacSignature([]byte(secret), body))
	case StrategyAWSSigV4:
		var keys awsKeys
		var err error
		if keys.accessKey, err = s.headerSafeField(cred, "access_key"); err != nil {
			return err
		}
		if keys.secretKey, err = s.headerSafeField(cred, "secret_key"); err != nil {
			return err
		}
		if keys.sessionToken, _, err = s.optionalField(cred, "session_token"); err != nil {
			return err
		}
		signSigV4(req, body, keys, s.Region, s.Service, now)
	default:
		return sdkError(CodeUnknownStrategy, "unknown strategy type %q", s.Kind)
	}
	return nil
}

// setHeaderAsDeclared replaces every header named name (any case) with one header whose name is
// written exactly as the provider declared it. http.Header.Set would canonicalise it (X-API-Key
// becomes X-Api-Key); net/http writes a map key as it is, and some upstreams (and the MCP
// servers that read Authorization from a case-sensitive map) compare names exactly. Note that
// http.Header.Get looks up the canonical form only: read such a header as h[name].
func setHeaderAsDeclared(h http.Header, name, value string) {
	for key := range h {
		if strings.EqualFold(key, name) {
			delete(h, key)
		}
	}
	h[name] = []string{value}
}

// validateRequest rejects a request no strategy should sign: a method that is not an HTTP
// token, a URL that is not absolute http(s), or malformed caller headers.
func validateRequest(req *http.Request) error {
	if !isHTTPToken(req.Method) {
		return sdkError(CodeInvalidRequest, "the method is not a valid HTTP token")
	}
	if req.URL == nil || (req.URL.Scheme != "http" && req.URL.Scheme != "https") || req.URL.Hostname() == "" {
		return sdkError(CodeInvalidRequest, "the URL must be absolute http(s)")
	}
	for name, values := range req.Header {
		if !isHTTPToken(name) {
			return sdkError(CodeInvalidRequest, "%q is not a valid header name", name)
		}
		for _, v := range values {
			if hasControlChar(v) {
				return sdkError(CodeInvalidRequest, "header %q has a control character in its value", name)
			}
		}
	}
	return nil
}

func (s *Strategy) hmacSignature(secret, body []byte) string {
	newHash := sha256.New
	if s.Algo == "sha1" {
		newHash = func() hash.Hash { return sha1.New() }
	}
	mac := hmac.New(newHash, secret)
	mac.Write(body)
	sum := mac.Sum(nil)
	if s.Encoding == "base64" {
		return base64.StdEncoding.EncodeToString(sum)
	}
	return hex.EncodeToString(sum)
}

// setQueryParam removes every name=… pair from the query (names compared after
// percent-decoding) and appends name=value, both percent-encoded (a space is %20). The rest of
// the query is kept byte for byte: re-encoding it would change URLs the caller may have signed.
func setQueryParam(u *url.URL, name, value string) {
	var kept []string
	for _, pair := range strings.Split(u.RawQuery, "&") {
		if pair == "" {
			continue
		}
		rawName, _, _ := strings.Cut(pair, "=")
		if percentDecode(rawName) == name {
			continue
		}
		kept = append(kept, pair)
	}
	kept = append(kept, uriEncode(name, true)+"="+uriEncode(value, true))
	u.RawQuery = strings.Join(kept, "&")
	u.ForceQuery = false
}

// percentDecode decodes %XX escapes leniently (a bad escape is kept as is; "+" stays "+").
func percentDecode(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

const upperHex = "0123456789ABCDEF"

func isAlnum(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// isHTTPToken reports whether name is an RFC 9110 token (the grammar of a header name).
func isHTTPToken(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if isAlnum(c) || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// hasControlChar reports whether value holds a byte that may not appear in a header value:
// every ASCII control character except horizontal tab, and DEL (RFC 9110 field-value).
func hasControlChar(value string) bool {
	for i := 0; i < len(value); i++ {
		if c := value[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return true
		}
	}
	return false
}

// hasForbiddenChar reports whether value holds a byte that would split or truncate a header.
func hasForbiddenChar(value string) bool {
	return strings.ContainsAny(value, "\r\n\x00")
}
