package oauthsdk

// Proxy mode (docs/proxy.md): the gateway forwards the call to the provider's API and injects
// the credential itself, so this process never holds it. The rules mirror the Rust core's
// nexus_sdk::proxy (URL building, telling the gateway's answers from the upstream's) and are
// held identical by tests/vectors/proxy.json, which both run.

import (
	"io"
	"net/http"
	"regexp"
	"strings"
)

const (
	proxyPrefix        = "/v1/proxy/"
	proxyHostHeader    = "Nexus-Proxy-Host"
	gatewayErrorHeader = "Nexus-Error"
)

var (
	workspaceIDPattern  = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	providerNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)
	hostPortPattern     = regexp.MustCompile(`^([A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:]+\])(:[0-9]{1,5})?$`)
)

// ProxyURL is where a proxied call goes: {gateway}/v1/proxy/{workspaceID}/{provider}{pathAndQuery}.
// The path is relative to the provider's api_base_url and kept as given (the gateway checks and
// normalises it); absolute URLs, fragments, bytes that must be percent-encoded (controls,
// space, non-ASCII), `\` and dot segments (raw or %2e-encoded) are refused with invalid_request.
func ProxyURL(gatewayURL, workspaceID, provider, pathAndQuery string) (string, error) {
	if !workspaceIDPattern.MatchString(workspaceID) {
		return "", sdkError(CodeInvalidRequest, "workspace id: must match [a-z0-9][a-z0-9_-]{0,62}")
	}
	if !providerNamePattern.MatchString(provider) {
		return "", sdkError(CodeInvalidRequest, "provider name: must match [a-z0-9][a-z0-9_.-]{0,62}")
	}
	if !strings.HasPrefix(pathAndQuery, "/") || strings.HasPrefix(pathAndQuery, "//") {
		return "", sdkError(CodeInvalidRequest, "proxy mode takes a path relative to the provider's api_base_url, starting with `/`")
	}
	if strings.Contains(pathAndQuery, "#") {
		return "", sdkError(CodeInvalidRequest, "a proxied path has no fragment (`#`)")
	}
	for i := 0; i < len(pathAndQuery); i++ {
		if b := pathAndQuery[i]; b <= ' ' || b >= 0x7f {
			return "", sdkError(CodeInvalidRequest, "percent-encode spaces, control and non-ASCII characters in a proxied path")
		}
	}
	path, _, _ := strings.Cut(pathAndQuery, "?")
	if strings.Contains(path, "\\") {
		return "", sdkError(CodeInvalidRequest, "a proxied path has no `\\` (URL parsers read it as `/`)")
	}
	for _, segment := range strings.Split(path, "/") {
		if isDotSegment(segment) {
			return "", sdkError(CodeInvalidRequest, "a proxied path has no `.` or `..` segment, raw or percent-encoded")
		}
	}
	return strings.TrimRight(gatewayURL, "/") + proxyPrefix + workspaceID + "/" + provider + pathAndQuery, nil
}

// isDotSegment: `.` or `..`, raw or with a dot written %2e (any case). Go's net/url keeps them,
// but the other SDKs' HTTP stacks resolve them before sending (so `/../other/x` would reach
// another provider's proxy path); every SDK refuses them alike (tests/vectors/proxy.json).
func isDotSegment(segment string) bool {
	dots := strings.ReplaceAll(strings.ToLower(segment), "%2e", ".")
	return dots == "." || dots == ".."
}

// ProxyGatewayError classifies a proxied response: the gateway's own answer (it carries the
// Nexus-Error header, which the gateway strips from every upstream answer) as its *Error, or
// nil for the upstream's answer, whatever its status (an upstream 401 or 429 is not a Nexus
// error).
func ProxyGatewayError(status int, header http.Header, body []byte) *Error {
	if _, marked := header[http.CanonicalHeaderKey(gatewayErrorHeader)]; !marked {
		return nil
	}
	return errorFromResponse(status, header, body)
}

// ProxyOption configures a proxy-mode client.
type ProxyOption func(*ProxyTransport)

// WithProxyHost sends the calls to another host of the provider, an entry of its
// proxy.allowed_hosts ("uploads.crm.example"); the scheme and base path stay the provider's.
func WithProxyHost(hostPort string) ProxyOption {
	return func(t *ProxyTransport) { t.host = hostPort }
}

// WithProxyBase sets the RoundTripper that reaches the gateway (http.DefaultTransport when nil).
func WithProxyBase(base http.RoundTripper) ProxyOption {
	return func(t *ProxyTransport) {
		if base != nil {
			t.base = base
		}
	}
}

// ProxyTransport is an http.RoundTripper for proxy mode: a request with a relative URL
// ("/contacts/42?x=1", relative to the provider's api_base_url) is sent to the gateway's proxy
// endpoint with this client's credential (the active session's token, else the API key),
// replacing any Authorization or X-API-Key of the caller's. The upstream's answer comes back as
// it is; the gateway's own answers (Nexus-Error) become an *Error. No 401 retry: the gateway
// already replaced the token and retried.
type ProxyTransport struct {
	client    *Client
	workspace string
	provider  string
	host      string
	base      http.RoundTripper
}

// NewProxyTransport returns the proxy-mode RoundTripper of (workspaceID, provider).
func (c *Client) NewProxyTransport(workspaceID, provider string, opts ...ProxyOption) *ProxyTransport {
	t := &ProxyTransport{client: c, workspace: workspaceID, provider: provider, base: http.DefaultTransport}
	for _, opt := range opts {
		opt(t)
	}
	return t
}

// ProxyHTTPClient returns a standard *http.Client for proxy mode: build requests with a path
// relative to the provider's API (http.NewRequest("GET", "/contacts/42", nil)) and send them as
// usual. Redirects are returned, not followed (their Location is the upstream's). No overall
// timeout: use a request context for deadlines.
func (c *Client) ProxyHTTPClient(workspaceID, provider string, opts ...ProxyOption) *http.Client {
	return &http.Client{
		Transport: c.NewProxyTransport(workspaceID, provider, opts...),
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// RoundTrip implements http.RoundTripper.
func (t *ProxyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil || req.URL.Scheme != "" || req.URL.Host != "" {
		closeBody(req)
		return nil, sdkError(CodeInvalidRequest, "proxy mode takes a path relative to the provider's api_base_url, not an absolute URL")
	}
	target, err := ProxyURL(t.client.gatewayURL, t.workspace, t.provider, req.URL.RequestURI())
	if err != nil {
		closeBody(req)
		return nil, err
	}
	auth, err := t.client.sessionAuth(req.Context(), t.client.activeSession())
	if err != nil {
		closeBody(req)
		return nil, err
	}
	if auth == "" {
		auth = t.client.apiKey
	}
	out := req.Clone(req.Context())
	if out.URL, err = out.URL.Parse(target); err != nil {
		closeBody(req)
		return nil, sdkError(CodeInvalidRequest, "the gateway URL is invalid")
	}
	out.Host = ""
	out.Header.Del("X-API-Key")
	out.Header.Del(proxyHostHeader)
	out.Header.Set("Authorization", "Bearer "+auth.Reveal())
	if t.host != "" {
		if !hostPortPattern.MatchString(t.host) {
			closeBody(req)
			return nil, sdkError(CodeInvalidRequest, "the proxy host is an exact `host[:port]`")
		}
		out.Header.Set(proxyHostHeader, t.host)
	}
	resp, err := t.base.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	if _, marked := resp.Header[http.CanonicalHeaderKey(gatewayErrorHeader)]; !marked {
		return resp, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	return nil, ProxyGatewayError(resp.StatusCode, resp.Header, body)
}
