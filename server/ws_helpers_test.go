package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"circly/app"
	"circly/hub"
	"circly/realtime"
	"circly/revoked"
	"circly/server"
	"circly/sqlstore"

	"github.com/coder/websocket"
)

// live is the hub of a test server, with its broker.
type live struct {
	hub    *hub.Hub
	broker realtime.Broker
}

// withLive gives the server a hub on an in-memory broker (or the one newBroker returns), with
// limits changed by fn.
func withLive(l *live, lim hub.Limits) envOption {
	return withDeps(func(d *server.Deps) {
		if l.broker == nil {
			l.broker = realtime.NewMemoryBroker()
		}
		svc := app.New(d.App.(*app.Service).Store, l.broker, nil) // the same store, now with a broker
		d.App = svc
		access := &app.LiveAccess{App: svc}
		gone := &revoked.Accounts{}
		l.hub = hub.New(hub.Config{Broker: l.broker, Auth: access, Snapshots: access, Limits: lim, Revoked: gone})
		d.Revoked = gone
		if err := l.hub.Start(context.Background()); err != nil {
			panic(err)
		}
		d.Hub = l.hub
	})
}

// newLiveEnv is newEnv with a hub.
func newLiveEnv(t testing.TB, d sqlstore.Dialect, lim hub.Limits, opts ...envOption) (*env, *live) {
	t.Helper()
	l := &live{}
	e := newEnv(t, d, append(opts, withLive(l, lim))...)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l.hub.Drain(ctx, 0)
		l.hub.Close()
		_ = l.broker.Close()
	})
	return e, l
}

// wsClient is a test client on a real WebSocket.
type wsClient struct {
	t *testing.T
	c *websocket.Conn
}

func (e *env) wsURL(path string) string { return "ws" + strings.TrimPrefix(e.srv.URL, "http") + path }

// dialWS opens a WebSocket with a Bearer token ("" for none).
func (e *env) dialWS(t *testing.T, path, token string) (*wsClient, *http.Response, error) {
	t.Helper()
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, res, err := websocket.Dial(ctx, e.wsURL(path), &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		return nil, res, err
	}
	c.SetReadLimit(1 << 20)
	w := &wsClient{t: t, c: c}
	t.Cleanup(func() { _ = c.CloseNow() })
	return w, res, nil
}

// connect opens /v1/ws for u and reads the ready frame.
func (e *env) connect(t *testing.T, u user) *wsClient {
	t.Helper()
	w, _, err := e.dialWS(t, "/v1/ws", u.Token)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	f := w.read()
	if f["type"] != "ready" || f["user_id"] != u.ID {
		t.Fatalf("first frame %v, want ready for %s", f, u.ID)
	}
	return w
}

func (w *wsClient) sendRaw(s string) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		w.t.Fatalf("write: %v", err)
	}
}

func (w *wsClient) send(v any) {
	w.t.Helper()
	b, _ := json.Marshal(v)
	w.sendRaw(string(b))
}

// next reads one frame, or returns the error that ended the connection.
func (w *wsClient) next(timeout time.Duration) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	typ, b, err := w.c.Read(ctx)
	if err != nil {
		return nil, err
	}
	if typ != websocket.MessageText {
		return nil, errors.New("binary message")
	}
	var f map[string]any
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, err
	}
	return f, nil
}

func (w *wsClient) read() map[string]any {
	w.t.Helper()
	f, err := w.next(10 * time.Second)
	if err != nil {
		w.t.Fatalf("read: %v", err)
	}
	return f
}

// expect reads the next frame and checks its type.
func (w *wsClient) expect(typ string) map[string]any {
	w.t.Helper()
	f := w.read()
	if f["type"] != typ {
		w.t.Fatalf("got frame %v, want type %q", f, typ)
	}
	return f
}

// subscribe asks for a channel and returns the subscribed frame's data.
func (w *wsClient) subscribe(id int, channel string) map[string]any {
	w.t.Helper()
	w.send(map[string]any{"type": "subscribe", "id": id, "channel": channel})
	f := w.expect("subscribed")
	if f["channel"] != channel || num(w.t, f["id"]) != float64(id) {
		w.t.Fatalf("subscribed frame %v for %s id %d", f, channel, id)
	}
	d, _ := f["data"].(map[string]any)
	return d
}

// closeCode reads until the connection ends and returns its close status.
func (w *wsClient) closeCode(timeout time.Duration) websocket.StatusCode {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		_, err := w.next(time.Until(deadline))
		if err != nil {
			return websocket.CloseStatus(err)
		}
		if time.Now().After(deadline) {
			w.t.Fatal("connection still open")
		}
	}
}

// untilTally reads until a tally of the channel with at least version v arrives.
func (w *wsClient) untilTally(channel string, v int) map[string]any {
	w.t.Helper()
	for {
		f := w.read()
		if f["type"] == "tally" && f["channel"] == channel {
			d := f["data"].(map[string]any)
			if int(num(w.t, d["version"])) >= v {
				return d
			}
		}
	}
}

func optionIDs(t testing.TB, poll map[string]any) []string {
	t.Helper()
	var ids []string
	for _, o := range poll["options"].([]any) {
		ids = append(ids, o.(map[string]any)["id"].(string))
	}
	return ids
}
