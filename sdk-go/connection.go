package oauthsdk

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"
)

// Connection states (protocol/src/connection.rs).
const (
	// StatusPending: created; waiting for the person to finish the authorize step.
	StatusPending = "pending"
	// StatusActive: usable.
	StatusActive = "active"
	// StatusNeedsReauth: the provider rejected the refresh token or client; a person must authorize again.
	StatusNeedsReauth = "needs_reauth"
	// StatusRevoked: revoked by an admin or the user.
	StatusRevoked = "revoked"
	// StatusFailed: the connect flow failed (denied consent, bad code, …).
	StatusFailed = "failed"
)

// ConnectionRequest is the body of POST /v1/request-connection.
type ConnectionRequest struct {
	// UserID is the end user the connection is for (the caller's own identifier).
	UserID string `json:"user_id"`
	// ProviderName is the provider to connect, e.g. "github".
	ProviderName string `json:"provider_name"`
	// Scopes to request; the provider's defaults when empty.
	Scopes []string `json:"scopes"`
	// ReturnURL is where the person's browser goes after the callback.
	ReturnURL string `json:"return_url,omitempty"`
	// Metadata is stored with the connection.
	Metadata map[string]any `json:"metadata,omitempty"`
}

// PendingConnection is the answer to RequestConnection: send the person to AuthURL, then wait
// for ConnectionID to become active.
type PendingConnection struct {
	// AuthURL is the provider's authorize URL (the wire name is authUrl).
	AuthURL string `json:"authUrl"`
	// ConnectionID identifies the new connection (pending until the person authorizes).
	ConnectionID string `json:"connection_id"`
	// State is the OAuth state parameter of the authorize URL.
	State string `json:"state"`
	// Scopes requested.
	Scopes []string `json:"scopes"`
	// ProviderID is the broker's id of the provider.
	ProviderID string `json:"provider_id"`
}

// UnmarshalJSON also accepts the snake_case spelling auth_url, as the protocol does.
func (p *PendingConnection) UnmarshalJSON(data []byte) error {
	type plain PendingConnection
	var aux struct {
		plain
		AuthURLSnake string `json:"auth_url"`
	}
	if err := json.Unmarshal(data, &aux); err != nil {
		return err
	}
	*p = PendingConnection(aux.plain)
	if p.AuthURL == "" {
		p.AuthURL = aux.AuthURLSnake
	}
	return nil
}

// ConnectionStatus is the answer to CheckConnection.
type ConnectionStatus struct {
	// Status is one of StatusPending, StatusActive, StatusNeedsReauth, StatusRevoked,
	// StatusFailed (or a newer state this version does not know).
	Status string `json:"status"`
	// ConnectionID is the connection's id, when the gateway repeats it.
	ConnectionID string `json:"connection_id,omitempty"`
	// ProviderName is the connection's provider, when the gateway sends it.
	ProviderName string `json:"provider_name,omitempty"`
	// ReauthURL is, with needs_reauth, where to send the person.
	ReauthURL string `json:"reauth_url,omitempty"`
}

// UnmarshalJSON reads the gateway's answer, whose `status` keeps the original protocol's value
// set (pending, active, failed) while `state` carries the finer state: Status is `state` when
// the answer has one, else `status` (an older gateway).
func (s *ConnectionStatus) UnmarshalJSON(data []byte) error {
	type plain ConnectionStatus
	var aux struct {
		plain
		State string `json:"state"`
	}
	if err := json.Unmarshal(data, &aux); err != nil {
		return err
	}
	*s = ConnectionStatus(aux.plain)
	if aux.State != "" {
		s.Status = aux.State
	}
	return nil
}

// terminalFailure reports whether polling will never see the connection become active.
func (s *ConnectionStatus) terminalFailure() bool {
	return s.Status == StatusNeedsReauth || s.Status == StatusRevoked || s.Status == StatusFailed
}

// RequestConnection starts the OAuth connect flow for a user and returns the URL a person must
// open to authorize it.
func (c *Client) RequestConnection(ctx context.Context, in ConnectionRequest) (*PendingConnection, error) {
	if in.Scopes == nil {
		in.Scopes = []string{}
	}
	var out PendingConnection
	if err := c.doJSON(ctx, call{method: http.MethodPost, path: "/v1/request-connection", body: in, sideEffects: true}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CheckConnection returns the state of a connection.
func (c *Client) CheckConnection(ctx context.Context, connectionID string) (*ConnectionStatus, error) {
	var out ConnectionStatus
	path := "/v1/check-connection/" + url.PathEscape(connectionID)
	if err := c.doJSON(ctx, call{method: http.MethodGet, path: path}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// WaitForActive polls CheckConnection every interval (1 s when ≤ 0) until the connection is
// active. It stops with an *Error of code CodeConnectionFailed when the connection reaches a
// state it will not leave by itself (needs_reauth, with ReauthURL set; revoked; failed), and
// CodeWaitAborted when ctx is done.
func (c *Client) WaitForActive(ctx context.Context, connectionID string, interval time.Duration) (*ConnectionStatus, error) {
	if interval <= 0 {
		interval = time.Second
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		status, err := c.CheckConnection(ctx, connectionID)
		if err != nil {
			if ctx.Err() != nil {
				return nil, waitAborted(ctx.Err())
			}
			return nil, err
		}
		if status.Status == StatusActive {
			return status, nil
		}
		if status.terminalFailure() {
			return status, &Error{Code: CodeConnectionFailed, ReauthURL: status.ReauthURL,
				Message: "the connection is " + status.Status}
		}
		select {
		case <-ctx.Done():
			return status, waitAborted(ctx.Err())
		case <-ticker.C:
		}
	}
}

func waitAborted(cause error) *Error {
	return &Error{Code: CodeWaitAborted, Message: "gave up waiting for the connection to become active", Err: cause}
}

// GetToken returns the current credential of a connection, by id.
func (c *Client) GetToken(ctx context.Context, connectionID string) (*Credential, error) {
	return c.fetchCredential(ctx, call{method: http.MethodGet, path: "/v1/token/" + url.PathEscape(connectionID)})
}

// RefreshConnection refreshes a connection's token at the provider now and returns it.
func (c *Client) RefreshConnection(ctx context.Context, connectionID string) (*Credential, error) {
	return c.fetchCredential(ctx, call{method: http.MethodPost, path: "/v1/refresh/" + url.PathEscape(connectionID)})
}

// doJSON runs a call and decodes its 2xx JSON body into out.
func (c *Client) doJSON(ctx context.Context, req call, out any) error {
	body, err := c.do(ctx, req)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, out); err != nil {
		return &Error{Code: CodeInvalidResponse, Message: "the gateway's response is not the expected JSON", Err: err}
	}
	return nil
}
