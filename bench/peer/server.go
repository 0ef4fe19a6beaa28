package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/centrifugal/centrifuge"
)

// peer is the centrifuge node, the token check and the last publication of each channel.
type peer struct {
	node   *centrifuge.Node
	tokens *tokens
	apiKey string
	ping   time.Duration

	// last is each channel's latest publication, sent in the subscribe reply: Circly's
	// subscribed frame carries the poll's current tally, and a tally is state, so the peer
	// gives a subscriber the same starting point.
	mu   sync.RWMutex
	last map[string][]byte
}

// maxChannels bounds the remembered publications; when full the map starts over.
const maxChannels = 200_000

// maxPublish bounds a publish request's body (a 50-member tally is about 3 KB).
const maxPublish = 64 << 10

func newPeer(secret string, ping time.Duration) (*peer, error) {
	node, err := centrifuge.New(centrifuge.Config{LogLevel: centrifuge.LogLevelWarn})
	if err != nil {
		return nil, err
	}
	p := &peer{node: node, tokens: newTokens(secret), apiKey: secret, ping: ping, last: map[string][]byte{}}
	node.OnConnecting(func(_ context.Context, e centrifuge.ConnectEvent) (centrifuge.ConnectReply, error) {
		user, err := p.tokens.verify(e.Token)
		if err != nil {
			return centrifuge.ConnectReply{}, centrifuge.ErrorUnauthorized
		}
		return centrifuge.ConnectReply{Credentials: &centrifuge.Credentials{UserID: user}}, nil
	})
	node.OnConnect(func(c *centrifuge.Client) {
		user := c.UserID()
		c.OnSubscribe(func(e centrifuge.SubscribeEvent, cb centrifuge.SubscribeCallback) {
			if !allowed(e.Channel, user) {
				cb(centrifuge.SubscribeReply{}, centrifuge.ErrorPermissionDenied)
				return
			}
			var reply centrifuge.SubscribeReply
			if data := p.lastOf(e.Channel); data != nil {
				reply.Publications = []*centrifuge.Publication{{Data: data}}
			}
			cb(reply, nil)
		})
	})
	return p, node.Run()
}

func (p *peer) lastOf(channel string) []byte {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.last[channel]
}

// allowed is Circly's channel rule without its database: a connection may subscribe to its own
// user channel and to any poll or circle channel (Circly also checks membership there).
func allowed(channel, user string) bool {
	kind, id, ok := strings.Cut(channel, ":")
	if !ok || !isUUID(id) {
		return false
	}
	switch kind {
	case "poll", "circle":
		return true
	case "user":
		return id == user
	}
	return false
}

// isUUID accepts the canonical 36-character form.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
		default:
			return false
		}
	}
	return true
}

func (p *peer) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/connection/websocket", centrifuge.NewWebsocketHandler(p.node, centrifuge.WebsocketConfig{
		// The load generator and benchmark clients are not browsers: no Origin to check.
		CheckOrigin: func(*http.Request) bool { return true },
		// Application pings ({} answered with {}) as often as Circly's control pings; a
		// client that does not answer within the timeout is cut.
		PingPongConfig: centrifuge.PingPongConfig{PingInterval: p.ping, PongTimeout: p.ping * 8 / 25},
	}))
	mux.HandleFunc("POST /publish", p.publish)
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, `{"status":"ok"}`) })
	return mux
}

// publish is POST /publish {"channel","data"} with "Authorization: apikey <secret>": the
// server-side publish a Circly replica does when a tally is released.
func (p *peer) publish(w http.ResponseWriter, r *http.Request) {
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "apikey ")
	if !ok || subtle.ConstantTimeCompare([]byte(key), []byte(p.apiKey)) != 1 {
		writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "send Authorization: apikey <secret>")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPublish))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		writeError(w, http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE", "the body is limited to 64 KB")
		return
	} else if err != nil {
		writeError(w, http.StatusBadRequest, "INVALID_FORMAT", "unreadable body")
		return
	}
	var req struct {
		Channel string          `json:"channel"`
		Data    json.RawMessage `json:"data"`
	}
	if json.Unmarshal(body, &req) != nil || len(req.Data) == 0 || string(req.Data) == "null" {
		writeError(w, http.StatusBadRequest, "INVALID_FORMAT", `send {"channel":"poll:<uuid>","data":{…}}`)
		return
	}
	if kind, id, _ := strings.Cut(req.Channel, ":"); (kind != "poll" && kind != "circle" && kind != "user") || !isUUID(id) {
		writeError(w, http.StatusBadRequest, "INVALID_CHANNEL", "channel is poll:, circle: or user: and a UUID")
		return
	}
	data := []byte(req.Data)
	p.mu.Lock()
	if len(p.last) >= maxChannels {
		clear(p.last)
	}
	p.last[req.Channel] = data
	p.mu.Unlock()
	if _, err := p.node.Publish(req.Channel, data); err != nil {
		writeError(w, http.StatusInternalServerError, "INTERNAL_ERROR", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, `{}`)
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// writeError answers with Circly's error envelope.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": code, "message": msg}})
	writeJSON(w, status, string(b))
}
