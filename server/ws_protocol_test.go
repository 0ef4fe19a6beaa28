package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"circly/auth"
	"circly/config"
	"circly/hub"
	"circly/internal/testdb"
	"circly/realtime"
	"circly/sqlstore"

	"github.com/coder/websocket"
)

// upgradeFail dials and expects an HTTP error envelope instead of an upgrade.
func upgradeFail(t *testing.T, e *env, path, token string, status int, code string, headers ...string) resp {
	t.Helper()
	h := []string{"Connection", "Upgrade", "Upgrade", "websocket", "Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}
	r := e.request("GET", path, token, nil, append(h, headers...)...)
	e.fail(status, code, r)
	return r
}

// TestWSUpgradeErrors: what is refused before the upgrade gets the HTTP error envelope.
func TestWSUpgradeErrors(t *testing.T) {
	e, l := newLiveEnv(t, testdb.Dialects[0], hub.Limits{})
	u := e.login()
	upgradeFail(t, e, "/v1/ws", "not-a-token", 401, "INVALID_TOKEN")
	expired, _ := auth.NewTokens(e.cfg.SecretKey, -time.Minute).Issue(u.ID)
	upgradeFail(t, e, "/v1/ws", expired, 401, "TOKEN_EXPIRED")
	upgradeFail(t, e, "/v1/ws", "", 401, "UNAUTHORIZED", "Authorization", "Basic abc")
	upgradeFail(t, e, "/v1/polls/not-a-uuid/live", u.Token, 400, "VALIDATION_ERROR")

	// 10 connections per user; the 11th is a 429 with Retry-After; closing one frees a slot.
	var conns []*wsClient
	for i := 0; i < 10; i++ {
		conns = append(conns, e.connect(t, u))
	}
	r := upgradeFail(t, e, "/v1/ws", u.Token, 429, "RATE_LIMIT_EXCEEDED")
	if r.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	upgradeFail(t, e, "/v1/polls/"+unknownID+"/live", u.Token, 429, "RATE_LIMIT_EXCEEDED")
	e.connect(t, e.login()) // another user is not affected
	_ = conns[0].c.Close(websocket.StatusNormalClosure, "")
	deadline := time.Now().Add(5 * time.Second)
	for {
		w, _, err := e.dialWS(t, "/v1/ws", u.Token)
		if err == nil {
			w.expect("ready")
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot not freed after a close: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// A draining replica refuses upgrades with 503.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l.hub.Drain(ctx, 0)
	upgradeFail(t, e, "/v1/ws", e.login().Token, 503, "SERVICE_UNAVAILABLE")
}

// TestWSOrigins: a foreign web page may not open a WebSocket; PUBLIC_URL's host and the
// configured patterns may.
func TestWSOrigins(t *testing.T) {
	e, _ := newLiveEnv(t, testdb.Dialects[0], hub.Limits{}, withConfig(func(c *config.Config) {
		c.WSAllowedOrigins = []string{"app.circly.example", "*.preview.example"}
	}))
	u := e.login()
	dial := func(origin string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, _, err := websocket.Dial(ctx, e.wsURL("/v1/ws"), &websocket.DialOptions{HTTPHeader: http.Header{
			"Authorization": {"Bearer " + u.Token}, "Origin": {origin}}})
		if err == nil {
			_ = c.CloseNow()
		}
		return err
	}
	for _, ok := range []string{"https://app.circly.example", "https://pr-7.preview.example"} {
		if err := dial(ok); err != nil {
			t.Errorf("origin %s refused: %v", ok, err)
		}
	}
	if err := dial("https://evil.example"); err == nil {
		t.Error("foreign origin accepted")
	}
}

// TestWSFirstFrameAuth: browsers authenticate with their first frame; a bad token or silence
// closes 4001.
func TestWSFirstFrameAuth(t *testing.T) {
	e, _ := newLiveEnv(t, testdb.Dialects[0], hub.Limits{AuthTimeout: 300 * time.Millisecond})
	u := e.login()
	w, _, err := e.dialWS(t, "/v1/ws", "")
	if err != nil {
		t.Fatal(err)
	}
	w.send(map[string]any{"type": "auth", "token": u.Token})
	if f := w.expect("ready"); f["user_id"] != u.ID {
		t.Fatalf("ready %v", f)
	}
	w.send(map[string]any{"type": "ping", "id": 1})
	w.expect("pong")

	w, _, _ = e.dialWS(t, "/v1/ws", "")
	w.send(map[string]any{"type": "auth", "token": "nope"})
	if code := w.closeCode(5 * time.Second); code != 4001 {
		t.Fatalf("bad token: close %d", code)
	}
	w, _, _ = e.dialWS(t, "/v1/ws", "")
	if code := w.closeCode(5 * time.Second); code != 4001 {
		t.Fatalf("silence: close %d", code)
	}
	w, _, _ = e.dialWS(t, "/v1/ws", "")
	w.send(map[string]any{"type": "subscribe", "id": 1, "channel": "user:" + u.ID})
	if code := w.closeCode(5 * time.Second); code != 4001 {
		t.Fatalf("subscribe before auth: close %d", code)
	}
}

// TestWSFrames: every client frame and error code of the contract.
func TestWSFrames(t *testing.T) {
	for _, dialect := range testdb.Dialects {
		t.Run(string(dialect), func(t *testing.T) { testWSFrames(t, dialect) })
	}
}

func testWSFrames(t *testing.T, dialect sqlstore.Dialect) {
	e, _ := newLiveEnv(t, dialect, hub.Limits{})
	{
		c := e.newCircle(3)
		other := e.newCircle(3)
		p := e.newPoll(c)
		otherPoll := e.newPoll(other)
		u := c.Members[1]
		w := e.connect(t, u)

		// Snapshots. u has one unread notification: the poll_start of p.
		if d := w.subscribe(1, "user:"+u.ID); num(t, d["unread_count"]) != 1 {
			t.Fatalf("user snapshot %v", d)
		}
		d := w.subscribe(2, "circle:"+c.ID)
		if d["circle_id"] != c.ID || num(t, d["member_count"]) != 3 || len(d["open_poll_ids"].([]any)) != 1 {
			t.Fatalf("circle snapshot %v", d)
		}
		d = w.subscribe(3, "poll:"+p["id"].(string))
		if d["poll_id"] != p["id"] || d["is_closed"] != false || len(d["options"].([]any)) != 2 {
			t.Fatalf("poll snapshot %v", d)
		}

		errCase := func(frame, code string, id any) {
			t.Helper()
			w.sendRaw(frame)
			f := w.expect("error")
			if f["code"] != code || f["id"] != id || f["message"] == "" {
				t.Fatalf("%s: got %v, want %s id %v", frame, f, code, id)
			}
		}
		errCase(`{"type":"subscribe","id":4,"channel":"poll:`+otherPoll["id"].(string)+`"}`, "NOT_CIRCLE_MEMBER", float64(4))
		errCase(`{"type":"subscribe","id":5,"channel":"circle:`+other.ID+`"}`, "NOT_CIRCLE_MEMBER", float64(5))
		errCase(`{"type":"subscribe","id":6,"channel":"user:`+c.Members[0].ID+`"}`, "FORBIDDEN", float64(6))
		errCase(`{"type":"subscribe","id":7,"channel":"poll:`+unknownID+`"}`, "POLL_NOT_FOUND", float64(7))
		errCase(`{"type":"subscribe","id":8,"channel":"circle:`+unknownID+`"}`, "CIRCLE_NOT_FOUND", float64(8))
		errCase(`{"type":"subscribe","id":9,"channel":"room:`+unknownID+`"}`, "INVALID_CHANNEL", float64(9))
		errCase(`{"type":"subscribe","id":10,"channel":"poll:42"}`, "INVALID_CHANNEL", float64(10))
		errCase(`{"type":"dance","id":11}`, "UNKNOWN_FRAME", float64(11))
		errCase(`not json`, "INVALID_FORMAT", nil)
		// Nine errors so far: the tenth closes the connection with 1008 after its error frame.
		w.send(map[string]any{"type": "ping", "id": 12})
		if f := w.expect("pong"); f["id"] != float64(12) {
			t.Fatalf("pong %v", f)
		}
		w.send(map[string]any{"type": "unsubscribe", "id": 13, "channel": "user:" + u.ID})
		if f := w.expect("unsubscribed"); f["id"] != float64(13) || f["channel"] != "user:"+u.ID {
			t.Fatalf("unsubscribed %v", f)
		}
		errCase(`{"type":"subscribe","id":"x","channel":"poll:`+unknownID+`"}`, "INVALID_FORMAT", nil)
		if code := w.closeCode(5 * time.Second); code != websocket.StatusPolicyViolation {
			t.Fatalf("after 10 errors: close %d, want 1008", code)
		}
	}
}

// TestWSTooBigAndTooMany: a client message over 4 KiB closes 1009; the 101st channel is
// TOO_MANY_CHANNELS.
// TestWSBinaryMessage: every frame is a text message; a binary one closes the connection 1003,
// before and after authentication.
func TestWSBinaryMessage(t *testing.T) {
	e, _ := newLiveEnv(t, testdb.Dialects[0], hub.Limits{})
	u := e.login()
	for _, authed := range []bool{true, false} {
		token := u.Token
		if !authed {
			token = "" // first-frame auth: the binary message comes first
		}
		w, _, err := e.dialWS(t, "/v1/ws", token)
		if err != nil {
			t.Fatal(err)
		}
		if authed {
			w.expect("ready")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := w.c.Write(ctx, websocket.MessageBinary, []byte(`{"type":"ping","id":1}`)); err != nil {
			t.Fatal(err)
		}
		cancel()
		if code := w.closeCode(5 * time.Second); code != websocket.StatusUnsupportedData {
			t.Fatalf("authenticated %v: close %d, want 1003", authed, code)
		}
	}
}

func TestWSTooBigAndTooMany(t *testing.T) {
	e, _ := newLiveEnv(t, testdb.Dialects[0], hub.Limits{})
	u := e.login()
	w := e.connect(t, u)
	w.sendRaw(`{"type":"ping","pad":"` + strings.Repeat("x", 4096) + `"}`)
	if code := w.closeCode(5 * time.Second); code != websocket.StatusMessageTooBig {
		t.Fatalf("close %d, want 1009", code)
	}

	w = e.connect(t, u)
	w.sendRaw(`{"type":"ping","id":1,"pad":"` + strings.Repeat("x", 3900) + `"}`) // just under: fine
	w.expect("pong")
	var ids []string
	for i := 0; i < 101; i++ {
		d := e.must(201, e.request("POST", "/v1/circles", u.Token, map[string]any{"name": fmt.Sprintf("c%d", i), "nickname": "me"}))
		ids = append(ids, d["id"].(string))
	}
	for i := 0; i < 100; i++ { // pipelined
		w.send(map[string]any{"type": "subscribe", "id": i, "channel": "circle:" + ids[i]})
	}
	for i := 0; i < 100; i++ {
		if f := w.expect("subscribed"); f["id"] != float64(i) {
			t.Fatalf("answer %d out of order: %v", i, f)
		}
	}
	w.send(map[string]any{"type": "subscribe", "id": 100, "channel": "circle:" + ids[100]})
	if f := w.expect("error"); f["code"] != "TOO_MANY_CHANNELS" {
		t.Fatalf("101st: %v", f)
	}
}

// TestWSCircleEvents: poll_created, member_joined, member_left, member_removed (with the
// removed member's subscriptions ended), and circle_deleted with poll_closed for its polls.
func TestWSCircleEvents(t *testing.T) {
	e, _ := newLiveEnv(t, testdb.Dialects[0], hub.Limits{})
	c := e.newCircle(4)
	creator, leaver, removed := c.Members[0], c.Members[2], c.Members[3]
	w := e.connect(t, c.Members[1])
	w.subscribe(1, "circle:"+c.ID)
	event := func(name string) map[string]any {
		t.Helper()
		f := w.expect("event")
		if f["event"] != name || f["channel"] != "circle:"+c.ID {
			t.Fatalf("got %v, want %s", f, name)
		}
		return f["data"].(map[string]any)
	}

	p := e.newPoll(c)
	if d := event("poll_created"); d["poll_id"] != p["id"] || d["question_text"] == "" {
		t.Fatalf("poll_created %v", d)
	}
	w.subscribe(2, "poll:"+p["id"].(string))
	newcomer := e.join(c, "new")
	if d := event("member_joined"); d["nickname"] != "new" {
		t.Fatalf("member_joined %v", d)
	}
	_ = newcomer

	rw := e.connect(t, removed)
	rw.subscribe(1, "circle:"+c.ID)
	rw.subscribe(2, "poll:"+p["id"].(string))
	rw.subscribe(3, "user:"+removed.ID)
	var removedMember string
	for _, m := range e.members(c) {
		if m["nickname"] == "m3" {
			removedMember = m["id"].(string)
		}
	}
	e.must(200, e.request("DELETE", "/v1/circles/"+c.ID+"/members/"+removedMember, creator.Token, nil))
	if d := event("member_removed"); d["member_id"] != removedMember {
		t.Fatalf("member_removed %v", d)
	}
	gone := map[string]bool{}
	for len(gone) < 2 {
		f := rw.read()
		if f["type"] == "unsubscribed" && f["reason"] == "removed" {
			gone[f["channel"].(string)] = true
		}
	}
	if !gone["circle:"+c.ID] || !gone["poll:"+p["id"].(string)] {
		t.Fatalf("removed from %v", gone)
	}
	rw.send(map[string]any{"type": "ping", "id": 9}) // the user channel is still there
	rw.expect("pong")

	e.must(200, e.request("POST", "/v1/circles/"+c.ID+"/leave", leaver.Token, nil))
	event("member_left")

	e.must(200, e.request("DELETE", "/v1/circles/"+c.ID, creator.Token, nil))
	// poll_closed on the poll channel and circle_deleted on the circle channel (either order:
	// different channels), then both subscriptions end.
	seen := map[string]bool{}
	for len(seen) < 4 {
		f := w.read()
		switch {
		case f["type"] == "poll_closed":
			if d := f["data"].(map[string]any); d["is_closed"] != true {
				t.Fatalf("poll_closed %v", f)
			}
			seen["poll_closed"] = true
		case f["type"] == "tally":
		case f["type"] == "event" && f["event"] == "circle_deleted":
			seen["circle_deleted"] = true
		case f["type"] == "unsubscribed" && f["reason"] == "removed":
			seen[f["channel"].(string)] = true
		default:
			t.Fatalf("unexpected %v", f)
		}
	}
	if !seen["poll_closed"] || !seen["circle_deleted"] {
		t.Fatalf("seen %v", seen)
	}
}

// TestWSSlowClientCutOff: a client that never reads is cut off (4008 or the write timeout)
// while another watcher of the same channel receives everything.
func TestWSSlowClientCutOff(t *testing.T) {
	e, l := newLiveEnv(t, testdb.Dialects[0], hub.Limits{WriteTimeout: time.Second})
	c := e.newCircle(3)
	slow := e.connect(t, c.Members[1])
	slow.subscribe(1, "circle:"+c.ID)
	fast := e.connect(t, c.Members[2])
	fast.subscribe(1, "circle:"+c.ID)

	const events = 300
	pad := strings.Repeat("x", 32<<10)
	done := make(chan error, 1)
	go func() {
		for i := 0; i < events; i++ {
			f, err := fast.next(10 * time.Second)
			if err != nil {
				done <- err
				return
			}
			if f["event"] != fmt.Sprintf("e%d", i) {
				done <- fmt.Errorf("event %d: got %v", i, f["event"])
				return
			}
		}
		done <- nil
	}()
	start := time.Now()
	for i := 0; i < events; i++ {
		data, _ := json.Marshal(map[string]any{"pad": pad})
		if err := l.broker.Publish(context.Background(), realtime.Message{Channel: "circle:" + c.ID, Kind: realtime.KindEvent,
			Type: "event", Event: fmt.Sprintf("e%d", i), Data: data}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("publishing took %s: a slow client held up the publisher", time.Since(start))
	}
	if err := <-done; err != nil {
		t.Fatalf("fast client: %v", err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for l.hub.Connections() > 1 {
		if time.Now().After(deadline) {
			t.Fatalf("slow client still connected (%d connections)", l.hub.Connections())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
