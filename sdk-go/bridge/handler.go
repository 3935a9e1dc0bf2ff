package bridge

import (
	"context"
	"fmt"
	"time"

	"github.com/coder/websocket"
)

// MessageType says whether a message is text (UTF-8) or binary.
type MessageType int

const (
	// Text is a UTF-8 text message.
	Text MessageType = iota + 1
	// Binary is a binary message.
	Binary
)

// Message is one complete incoming message.
type Message struct {
	Type MessageType
	Data []byte
}

// ReasonKind says why a connection ended.
type ReasonKind int

const (
	// ClosedByPeer: the server sent a close frame (Reason.Code and Reason.Text hold it).
	ClosedByPeer ReasonKind = iota + 1
	// Error: the connection failed — a read or write error, a missed pong, a message over the
	// size limit (Reason.Text describes it, without any credential).
	Error
	// CredentialExpiring: the bridge closed the connection to reconnect with a fresh
	// credential (WithReconnectBeforeExpiry).
	CredentialExpiring
	// Cancelled: the context of MaintainWebSocket ended; the socket was closed normally.
	Cancelled
)

// String returns the reason's name as the docs and the Rust bridge spell it.
func (k ReasonKind) String() string {
	switch k {
	case ClosedByPeer:
		return "closed_by_peer"
	case Error:
		return "error"
	case CredentialExpiring:
		return "credential_expiring"
	case Cancelled:
		return "cancelled"
	default:
		return fmt.Sprintf("ReasonKind(%d)", int(k))
	}
}

// Reason is why a connection ended, passed to Handler.OnDisconnect.
type Reason struct {
	Kind ReasonKind
	// Code is the close code the peer sent (ClosedByPeer only).
	Code int
	// Text is the peer's close reason (ClosedByPeer) or the error (Error).
	Text string
}

// String formats the reason for logs, e.g. "closed_by_peer(1011, restarting)".
func (r Reason) String() string {
	switch r.Kind {
	case ClosedByPeer:
		return fmt.Sprintf("closed_by_peer(%d, %s)", r.Code, r.Text)
	case Error:
		return fmt.Sprintf("error(%s)", r.Text)
	default:
		return r.Kind.String()
	}
}

// Sender sends messages on the current connection. It is valid until the OnDisconnect that
// follows the OnConnect that handed it out; after that every send fails. It is safe for
// concurrent use.
type Sender interface {
	// SendText sends one text message, bounded by ctx and the write timeout.
	SendText(ctx context.Context, text string) error
	// SendBinary sends one binary message, bounded by ctx and the write timeout.
	SendBinary(ctx context.Context, data []byte) error
}

// Handler receives the life of the bridge. Callbacks for one bridge are never called
// concurrently with each other and in order: OnConnect, any number of OnMessage, OnDisconnect,
// then OnConnect again after a reconnect. They run on the bridge's goroutines, so a callback
// that blocks delays keepalive and reading; hand long work to another goroutine.
type Handler interface {
	OnConnect(s Sender)
	OnMessage(m Message)
	OnDisconnect(r Reason)
}

// HandlerFuncs is a Handler built from functions; a nil function ignores its event.
type HandlerFuncs struct {
	Connect    func(Sender)
	Message    func(Message)
	Disconnect func(Reason)
}

// OnConnect calls h.Connect.
func (h HandlerFuncs) OnConnect(s Sender) {
	if h.Connect != nil {
		h.Connect(s)
	}
}

// OnMessage calls h.Message.
func (h HandlerFuncs) OnMessage(m Message) {
	if h.Message != nil {
		h.Message(m)
	}
}

// OnDisconnect calls h.Disconnect.
func (h HandlerFuncs) OnDisconnect(r Reason) {
	if h.Disconnect != nil {
		h.Disconnect(r)
	}
}

// connSender is the Sender of one connection.
type connSender struct {
	conn         *websocket.Conn
	writeTimeout time.Duration
}

func (s *connSender) SendText(ctx context.Context, text string) error {
	return s.send(ctx, websocket.MessageText, []byte(text))
}

func (s *connSender) SendBinary(ctx context.Context, data []byte) error {
	return s.send(ctx, websocket.MessageBinary, data)
}

func (s *connSender) send(ctx context.Context, typ websocket.MessageType, data []byte) error {
	ctx, cancel := context.WithTimeout(ctx, s.writeTimeout)
	defer cancel()
	return s.conn.Write(ctx, typ, data)
}
