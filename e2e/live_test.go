package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"circly/internal/testdb"
	"circly/internal/testredis"

	"github.com/coder/websocket"
)

// wsConn is a live-protocol client of a real replica.
type wsConn struct {
	t *testing.T
	c *websocket.Conn
}

func dialLive(t *testing.T, baseURL, token string) *wsConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h := http.Header{"Authorization": {"Bearer " + token}}
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(baseURL, "http")+"/v1/ws", &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatalf("dial %s: %v", baseURL, err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	w := &wsConn{t: t, c: c}
	if f := w.read(10 * time.Second); f["type"] != "ready" {
		t.Fatalf("first frame %v", f)
	}
	return w
}

func (w *wsConn) next(timeout time.Duration) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, b, err := w.c.Read(ctx)
	if err != nil {
		return nil, err
	}
	var f map[string]any
	return f, json.Unmarshal(b, &f)
}

func (w *wsConn) read(timeout time.Duration) map[string]any {
	w.t.Helper()
	f, err := w.next(timeout)
	if err != nil {
		w.t.Fatalf("read: %v", err)
	}
	return f
}

func (w *wsConn) subscribe(id int, channel string) map[string]any {
	w.t.Helper()
	b, _ := json.Marshal(map[string]any{"type": "subscribe", "id": id, "channel": channel})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, b); err != nil {
		w.t.Fatal(err)
	}
	f := w.read(10 * time.Second)
	if f["type"] != "subscribed" || f["channel"] != channel {
		w.t.Fatalf("subscribe %s: %v", channel, f)
	}
	d, _ := f["data"].(map[string]any)
	return d
}

// untilVersion reads until the poll's tally reaches version v (other frames are skipped).
func (w *wsConn) untilVersion(channel string, v int, timeout time.Duration) map[string]any {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		f, err := w.next(time.Until(deadline))
		if err != nil {
			w.t.Fatalf("no tally version %d on %s within %s: %v", v, channel, timeout, err)
		}
		if f["type"] == "tally" && f["channel"] == channel {
			d := f["data"].(map[string]any)
			if num(d["version"]) >= v {
				return d
			}
		}
	}
}

// TestLiveAcrossReplicas: two replicas on one PostgreSQL schema and a private Redis. A vote on
// A reaches a watcher on B; a removal on A ends the removed member's subscriptions on B; after
// Redis is killed and restarted mid-poll, with votes cast during the outage, the watcher on B
// converges on the final tally.
func TestLiveAcrossReplicas(t *testing.T) {
	pg := testdb.PostgresSchemaURL(t)
	rd := testredis.New(t)
	secret := "e2e-live-secret-0123456789abcdef-" + t.Name()
	A := startProc(t, "replica-A", distributedEnv(t, pg, rd.URL(), secret))
	B := startProc(t, "replica-B", distributedEnv(t, pg, rd.URL(), secret))
	A.waitHealthy(90 * time.Second)
	B.waitHealthy(90 * time.Second)

	const n = 8
	users := loginMany(t, "live", n, A.URL, B.URL)
	circle := must(t, 201, "POST", A.URL+"/v1/circles", users[0].Token, map[string]any{"name": "Live", "nickname": "m0"})
	circleID := circle["id"].(string)
	for i := 1; i < n; i++ {
		d := must(t, 200, "POST", A.URL+"/v1/circles/join", users[i].Token,
			map[string]any{"invite_code": circle["invite_code"], "nickname": fmt.Sprintf("m%d", i)})
		users[i].MemberID = d["membership"].(map[string]any)["id"].(string)
	}
	poll := must(t, 201, "POST", A.URL+"/v1/polls", users[0].Token, map[string]any{
		"circle_id": circleID, "template_id": firstTemplate(t, A.URL, users[0].Token), "duration_hours": 1})
	pollID := poll["id"].(string)
	pollCh, circleCh := "poll:"+pollID, "circle:"+circleID
	opts, _ := optionsOf(t, poll)

	watcher := dialLive(t, B.URL, users[1].Token)
	if snap := watcher.subscribe(1, pollCh); num(snap["version"]) != 0 {
		t.Fatalf("snapshot %v", snap)
	}
	removed := dialLive(t, B.URL, users[7].Token)
	removed.subscribe(1, circleCh)
	removed.subscribe(2, pollCh)

	// Vote on A → tally on B.
	must(t, 201, "POST", A.URL+"/v1/polls/"+pollID+"/vote", users[2].Token, map[string]any{"option_id": opts[0]})
	watcher.untilVersion(pollCh, 1, 5*time.Second)

	// Removal on A → unsubscribed (reason removed) on B for both channels.
	must(t, 200, "DELETE", A.URL+"/v1/circles/"+circleID+"/members/"+users[7].MemberID, users[0].Token, nil)
	gone := map[string]bool{}
	deadline := time.Now().Add(5 * time.Second)
	for len(gone) < 2 {
		f, err := removed.next(time.Until(deadline))
		if err != nil {
			t.Fatalf("removed member still subscribed to %v: %v", gone, err)
		}
		if f["type"] == "unsubscribed" {
			if f["reason"] != "removed" {
				t.Fatalf("unsubscribed without reason: %v", f)
			}
			gone[f["channel"].(string)] = true
		}
	}
	if !gone[pollCh] || !gone[circleCh] {
		t.Fatalf("removed from %v", gone)
	}

	// Redis dies; votes go on (their publications fail on A); Redis comes back; B re-reads.
	rd.Stop()
	for i := 3; i <= 5; i++ {
		must(t, 201, "POST", A.URL+"/v1/polls/"+pollID+"/vote", users[i].Token, map[string]any{"option_id": opts[1]})
	}
	time.Sleep(500 * time.Millisecond)
	rd.Start()
	final := watcher.untilVersion(pollCh, 4, 15*time.Second)
	if num(final["total_votes"]) != 4 {
		t.Fatalf("final tally %v", final)
	}
	// And the link works again.
	must(t, 201, "POST", A.URL+"/v1/polls/"+pollID+"/vote", users[6].Token, map[string]any{"option_id": opts[1]})
	watcher.untilVersion(pollCh, 5, 10*time.Second)

	// An account deleted on A: its connection on B closes 4001, B refuses its still-signed token
	// at once (B saw the user a moment ago, so its own existence check would still pass), and
	// the circle's watchers on B see the member leave.
	leaver := users[6]
	leaverConn := dialLive(t, B.URL, leaver.Token)
	circleWatch := dialLive(t, B.URL, users[1].Token)
	circleWatch.subscribe(1, circleCh)
	must(t, 200, "DELETE", A.URL+"/v1/users/me", leaver.Token, nil)
	for {
		_, err := leaverConn.next(5 * time.Second)
		if err == nil {
			continue
		}
		if code := websocket.CloseStatus(err); code != 4001 {
			t.Fatalf("the deleted account's connection on B ended with %v (status %d), want 4001", err, code)
		}
		break
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(B.URL, "http")+"/v1/ws",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + leaver.Token}}})
	if err == nil {
		_ = c.CloseNow()
		t.Fatal("B upgraded a connection of the deleted account")
	}
	if resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("B answered the deleted account's upgrade with %v, %v; want 401", resp, err)
	}
	for {
		f := circleWatch.read(5 * time.Second)
		if f["type"] != "event" || f["event"] != "member_left" {
			continue
		}
		if d := f["data"].(map[string]any); d["member_id"] != leaver.MemberID {
			t.Fatalf("member_left for %v, want %s", d, leaver.MemberID)
		}
		break
	}

	// A poll deleted on A: its watchers on B are unsubscribed with reason "deleted".
	doomed := must(t, 201, "POST", A.URL+"/v1/polls", users[0].Token, map[string]any{
		"circle_id": circleID, "template_id": firstTemplate(t, A.URL, users[0].Token), "duration_hours": 1})
	doomedCh := "poll:" + doomed["id"].(string)
	pollWatch := dialLive(t, B.URL, users[1].Token)
	pollWatch.subscribe(1, doomedCh)
	must(t, 200, "DELETE", A.URL+"/v1/polls/"+doomed["id"].(string), users[0].Token, nil)
	for {
		f := pollWatch.read(5 * time.Second)
		if f["type"] != "unsubscribed" {
			continue
		}
		if f["channel"] != doomedCh || f["reason"] != "deleted" {
			t.Fatalf("after the poll's deletion: %v", f)
		}
		break
	}
}

// TestLiveDrainOnSIGTERM: on SIGTERM every WebSocket client gets the reconnect frame and then
// close 1001, within the drain window, and the process exits 0.
func TestLiveDrainOnSIGTERM(t *testing.T) {
	p := startServer(t, "drain", map[string]string{"DATA_DIR": t.TempDir(), "LOG_LEVEL": "warn", "SHUTDOWN_DRAIN": "2s"})
	users := loginMany(t, "drain", 5, p.URL)
	var conns []*wsConn
	for _, u := range users {
		conns = append(conns, dialLive(t, p.URL, u.Token))
	}
	p.signal(syscall.SIGTERM)
	for i, w := range conns {
		f := w.read(10 * time.Second)
		if f["type"] != "reconnect" || f["reason"] != "shutdown" {
			t.Fatalf("client %d: got %v, want reconnect", i, f)
		}
		_, err := w.next(5 * time.Second)
		if code := websocket.CloseStatus(err); code != websocket.StatusGoingAway {
			t.Fatalf("client %d: close %v (%v), want 1001", i, code, err)
		}
	}
	if code, ok := p.wait(20 * time.Second); !ok || code != 0 {
		t.Fatalf("exit %d (exited %v)", code, ok)
	}
}
