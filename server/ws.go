package server

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"circly"
	"circly/frames"
	"circly/hub"
	"circly/realtime"
	"circly/sqlstore"

	"github.com/coder/websocket"
	"github.com/gin-gonic/gin"
	"go.uber.org/zap"
)

// MaxClientFrame is the largest client message (API.md: 4 KiB; larger closes 1009).
const MaxClientFrame = 4096

// ws is GET /v1/ws: one connection, many channels.
func (s *Server) ws(c *gin.Context) error { return s.upgrade(c, nil) }

// pollLive is GET /v1/polls/{id}/live: the same protocol, subscribed to poll:{id} at once.
func (s *Server) pollLive(c *gin.Context) error {
	id, err := uuidParam(c, "id")
	if err != nil {
		return err
	}
	return s.upgrade(c, []string{realtime.PollChannel(id)})
}

// upgrade checks what can still be answered over HTTP (a bad Bearer token is a 401, the 11th
// connection of a user a 429, a draining replica a 503), then hands the WebSocket to the hub.
// Without an Authorization header the client authenticates with its first frame (browsers
// cannot set headers on a WebSocket).
func (s *Server) upgrade(c *gin.Context, channels []string) error {
	if s.hub == nil {
		return circly.Errorf(circly.CodeUnavailable, "live updates are not available on this server")
	}
	compact, err := tallyForm(c)
	if err != nil {
		return err
	}
	sess := hub.Session{Channels: channels, Authenticate: s.liveTokenUser, CompactTally: compact}
	if c.GetHeader("Authorization") != "" {
		token, ok := bearerToken(c)
		if !ok {
			return errNoBearer()
		}
		userID, err := s.tokenUser(c.Request.Context(), token)
		if err != nil {
			return err
		}
		release, err := s.hub.Admit(userID)
		switch {
		case errors.Is(err, hub.ErrAccountGone):
			return errAccountGone()
		case errors.Is(err, hub.ErrTooManyConnections):
			limit := s.hub.MaxConnsPerUser()
			return circly.Errorf(circly.CodeRateLimited, "at most %d live connections per user", limit).
				WithDetails(map[string]any{"limit": limit, "retry_after_seconds": 5})
		case err != nil:
			return circly.Errorf(circly.CodeUnavailable, "this server is shutting down; reconnect")
		}
		sess.UserID, sess.Release = userID, release
	} else if s.hub.Draining() {
		return circly.Errorf(circly.CodeUnavailable, "this server is shutting down; reconnect")
	}

	rw := &smallBuffers{ResponseWriter: c.Writer}
	t := &wsTransport{}
	conn, err := websocket.Accept(rw, c.Request, &websocket.AcceptOptions{
		OriginPatterns:  s.cfg.WSAllowedOrigins,
		CompressionMode: websocket.CompressionDisabled,
		OnPongReceived:  t.pong,
	})
	if err != nil {
		// Accept has answered already (403 for a foreign origin, 426 without an upgrade).
		if sess.Release != nil {
			sess.Release()
		}
		s.log.Debug("websocket upgrade refused", zap.String("request_id", requestID(c)), zap.Error(err))
		c.Abort()
		return nil
	}
	conn.SetReadLimit(MaxClientFrame)
	c.Abort() // the hijacked connection belongs to the hub now; nothing else writes to it
	// The hub serves it from a fresh goroutine and the handler returns: net/http then lets go
	// of its per-request state (a 4 KiB write buffer, the response, the request, a deep
	// stack), which would otherwise stay alive as long as the connection. The connection's
	// life is the hub's business from here (Drain ends it), not the request context's.
	t.c, t.burst = conn, rw.burst
	go s.hub.Serve(context.Background(), t, sess)
	return nil
}

// tallyForm reads the upgrade's `tally` query parameter: "compact" asks for the compact tally
// form; absent or "full" keeps the full one (every client from before it existed).
func tallyForm(c *gin.Context) (compact bool, err error) {
	switch v := c.Query("tally"); v {
	case "", frames.FormFull:
		return false, nil
	case frames.FormCompact:
		return true, nil
	}
	return false, invalid("tally", "tally must be full or compact")
}

// wsTransport adapts a coder/websocket connection to hub.Transport.
type wsTransport struct {
	c     *websocket.Conn
	burst *burstWriter // nil when Hijack kept net/http's buffers: the library writes then
	pongs atomic.Uint64
}

// pong is the library's OnPongReceived: it runs in the reader's goroutine for every pong.
func (t *wsTransport) pong(context.Context, []byte) { t.pongs.Add(1) }

// errBinaryMessage ends a connection that sent a binary message: every frame of the live
// protocol is a text message.
var errBinaryMessage = errors.New("binary message")

// Read returns the next text message. A binary message ends the connection with 1003, one over
// the read limit with 1009.
func (t *wsTransport) Read(ctx context.Context) ([]byte, error) {
	typ, b, err := t.c.Read(ctx)
	if err == nil && typ != websocket.MessageText {
		_ = t.c.Close(websocket.StatusUnsupportedData, "frames are text messages")
		return nil, errBinaryMessage
	}
	return b, err
}

// Write sends one of the connection's own messages with a single write to the socket.
func (t *wsTransport) Write(ctx context.Context, p []byte) error {
	if t.burst == nil {
		return t.c.Write(ctx, websocket.MessageText, p)
	}
	return t.burst.writeFrame(textFrame(p))
}

// WriteShared implements hub.SharedWriter: a message the hub fans out to many watchers is the
// same slice for all of them, and is framed once (sharedFrame).
func (t *wsTransport) WriteShared(p []byte) error {
	if t.burst == nil {
		return t.c.Write(context.Background(), websocket.MessageText, p)
	}
	return t.burst.writeFrame(sharedFrame(p))
}

// pingFrame is a control ping with no payload (RFC 6455 §5.5.2), unmasked as a server sends it.
var pingFrame = []byte{0x89, 0x00}

// Ping sends a control ping and does not wait: the pong is counted by pong. The library's own
// Ping would wait for it, holding a goroutine, a timer and an entry in a per-connection map for
// every ping; an idle minute of those grew a replica by 1.4–2.2 KB per connection.
func (t *wsTransport) Ping() error {
	if t.burst == nil {
		// Rare (the client sent frames ahead of the upgrade's answer): only the library can
		// write here. Its Ping waits for the pong, so it runs on its own; pong counts it too.
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_ = t.c.Ping(ctx)
		}()
		return nil
	}
	return t.burst.writeFrame(pingFrame)
}

// Pongs implements hub.Transport.
func (t *wsTransport) Pongs() uint64 { return t.pongs.Load() }

func (t *wsTransport) Close(code int, reason string) error {
	return t.c.Close(websocket.StatusCode(code), reason)
}

// Abort implements hub.Aborter: the socket is closed without a close frame.
func (t *wsTransport) Abort() error { return t.c.CloseNow() }

// liveTokenUser checks a first-frame token; a database outage becomes frames.ErrUnavailable, which
// closes 1013 (try again later) rather than 4001 (the token is bad: sign in again).
func (s *Server) liveTokenUser(ctx context.Context, token string) (string, error) {
	userID, err := s.tokenUser(ctx, token)
	if err != nil && sqlstore.Unavailable(err) {
		return "", fmt.Errorf("%w: %w", frames.ErrUnavailable, err)
	}
	return userID, err
}
