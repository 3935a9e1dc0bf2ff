package bridge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/coder/websocket"

	oauthsdk "github.com/dromos/nexus/sdk-go"
)

// handshakeRequest is the credential applied to the opening GET of a WebSocket connection.
type handshakeRequest struct {
	url    string // http(s) form of the ws(s) URL, possibly with the credential in its query
	header http.Header
	host   string // the Host header, when the strategy signed one (aws_sigv4)
}

// buildHandshake applies cred's strategy to a GET of rawURL with an empty body: oauth2 and
// header set their header, query_param extends the query, basic_auth sets Authorization,
// hmac_payload and aws_sigv4 sign the GET with an empty body. The strategy engine is the SDK's
// own (oauthsdk.Strategy.Apply), which only accepts http(s) URLs, so ws/wss are mapped to
// http/https first; the WebSocket dialer accepts either form.
func buildHandshake(rawURL string, cred *oauthsdk.Credential, extra http.Header, now time.Time) (*handshakeRequest, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, &oauthsdk.Error{Code: oauthsdk.CodeInvalidRequest, Message: "the WebSocket URL cannot be parsed"}
	}
	switch u.Scheme {
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	case "http", "https":
	default:
		return nil, &oauthsdk.Error{Code: oauthsdk.CodeInvalidRequest,
			Message: fmt.Sprintf("the WebSocket URL scheme must be ws or wss, not %q", u.Scheme)}
	}
	strategy, err := oauthsdk.ParseStrategy(cred.Strategy)
	if err != nil {
		return nil, err
	}
	header := extra.Clone()
	if header == nil {
		header = http.Header{}
	}
	req := &http.Request{Method: http.MethodGet, URL: u, Header: header, Host: u.Host}
	if err := strategy.Apply(req, cred, nil, now); err != nil {
		return nil, err
	}
	hs := &handshakeRequest{url: req.URL.String(), header: req.Header}
	if req.Host != u.Host {
		hs.host = req.Host
	}
	return hs, nil
}

// dialResult is one handshake attempt: either a connection, or why there is none.
type dialResult struct {
	conn *websocket.Conn
	// status is the HTTP status of a rejected handshake (0 when none was received).
	status int
	// detail describes a failure without the URL (which may carry the credential).
	detail string
}

// rejected reports whether the upstream refused the credential.
func (r dialResult) rejected() bool {
	return r.status == http.StatusUnauthorized || r.status == http.StatusForbidden
}

// dial opens the WebSocket connection with hs.
func (c *config) dial(ctx context.Context, hs *handshakeRequest) dialResult {
	// The timeout covers the handshake only: the library does not keep this context.
	ctx, cancel := context.WithTimeout(ctx, c.handshakeTimeout)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, hs.url, &websocket.DialOptions{
		HTTPClient:   c.httpClient,
		HTTPHeader:   hs.header,
		Host:         hs.host,
		Subprotocols: c.subprotocols,
	})
	if err == nil {
		conn.SetReadLimit(c.readLimit)
		return dialResult{conn: conn}
	}
	if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
		return dialResult{status: resp.StatusCode, detail: fmt.Sprintf("the handshake was answered with HTTP %d", resp.StatusCode)}
	}
	return dialResult{detail: "the handshake failed: " + redactURL(err).Error()}
}

// redactURL drops the URL (whose query may hold the credential) from a dial error.
func redactURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
