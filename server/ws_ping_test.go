package server_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"circly/hub"
	"circly/internal/testdb"

	"github.com/coder/websocket"
)

// TestPingsOverARealSocket: the server pings every interval with a control frame, and a client
// that answers (every WebSocket library does, while it reads) stays connected across many
// rounds; the pongs are what keep it.
func TestPingsOverARealSocket(t *testing.T) {
	e, _ := newLiveEnv(t, testdb.Dialects[0], hub.Limits{PingInterval: 100 * time.Millisecond, PongTimeout: 500 * time.Millisecond})
	u := e.login()
	var pings atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, e.wsURL("/v1/ws"), &websocket.DialOptions{
		HTTPHeader:     map[string][]string{"Authorization": {"Bearer " + u.Token}},
		OnPingReceived: func(context.Context, []byte) bool { pings.Add(1); return true },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	frames := make(chan []byte, 16)
	go func() {
		defer close(frames)
		for {
			_, b, err := c.Read(ctx)
			if err != nil {
				return
			}
			frames <- b
		}
	}()
	if f := <-frames; !jsonHasType(f, "ready") {
		t.Fatalf("first frame %s", f)
	}
	// The sweep looks once a second: a ping goes out, its pong is seen on the next round, and
	// the next ping follows. Five pings take about ten seconds.
	for pings.Load() < 5 {
		select {
		case f, ok := <-frames:
			if !ok {
				t.Fatalf("connection ended after %d pings", pings.Load())
			}
			t.Fatalf("unexpected frame %s", f)
		case <-ctx.Done():
			t.Fatalf("%d pings in 30 s", pings.Load())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"ping","id":7}`)); err != nil {
		t.Fatal(err)
	}
	if f := <-frames; !jsonHasType(f, "pong") {
		t.Fatalf("after the pings the connection answered %s", f)
	}
}

// TestUnansweredPingCloses: a client that reads but never answers a ping (a raw socket here)
// is closed 1008 once PongTimeout has passed.
func TestUnansweredPingCloses(t *testing.T) {
	e, _ := newLiveEnv(t, testdb.Dialects[0], hub.Limits{PingInterval: 100 * time.Millisecond, PongTimeout: 300 * time.Millisecond})
	u, _ := url.Parse(e.srv.URL)
	conn, err := rawWS(u.Host, e.login().Token)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	br := bufio.NewReader(conn)
	sawPing := false
	for {
		hdr := make([]byte, 2)
		if _, err := io.ReadFull(br, hdr); err != nil {
			t.Fatalf("no close frame (ping seen: %v): %v", sawPing, err)
		}
		payload := make([]byte, hdr[1]&0x7f)
		if _, err := io.ReadFull(br, payload); err != nil {
			t.Fatal(err)
		}
		switch hdr[0] & 0x0f {
		case 0x9:
			sawPing = true
		case 0x8:
			if !sawPing {
				t.Fatal("closed before any ping")
			}
			if code := binary.BigEndian.Uint16(payload); code != hub.ClosePolicy {
				t.Fatalf("closed with %d %q, want %d", code, payload[2:], hub.ClosePolicy)
			}
			return
		}
	}
}

// jsonHasType says whether frame is a JSON object whose type is typ.
func jsonHasType(frame []byte, typ string) bool {
	var f struct {
		Type string `json:"type"`
	}
	return json.Unmarshal(frame, &f) == nil && f.Type == typ
}
