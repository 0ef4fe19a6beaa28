package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"circly/internal/testpg"

	"github.com/coder/websocket"
)

// TestDatabaseOutage: while its PostgreSQL is stopped, a replica answers every request that
// needs the database with 503 SERVICE_UNAVAILABLE and Retry-After (never a 500), refuses a live
// subscription with a retryable error frame and a first-frame auth with close 1013, logs no
// error line, and reports itself unhealthy. Once PostgreSQL is back it serves again, without a
// restart.
func TestDatabaseOutage(t *testing.T) {
	pg := testpg.New(t)
	srv := startServer(t, "replica", map[string]string{
		"DATABASE_URL": pg.URL(), "SECRET_KEY": "e2e-outage-secret-0123456789abcdef",
		"DATA_DIR": t.TempDir(), "ENV": "development", "LOG_LEVEL": "warn",
		"LOG_FORMAT": "json", "TALLY_RELEASE_BATCH": "1", "RATE_LIMIT_REQUESTS": "0", "AUTH_RATE_LIMIT": "0",
	})
	users := loginMany(t, "outage", 4, srv.URL)
	fresh := users[3] // logged in, never seen by the token check: its first use needs the database
	circleID := formCircle(t, srv.URL, "Outage", users[:3])["id"].(string)
	poll := must(t, 201, "POST", srv.URL+"/v1/polls", users[0].Token, map[string]any{
		"circle_id": circleID, "template_id": firstTemplate(t, srv.URL, users[0].Token), "duration_hours": 1})
	pollID := poll["id"].(string)
	opts, _ := optionsOf(t, poll)
	watcher := dialLive(t, srv.URL, users[1].Token)

	pg.Stop()
	requests := []struct{ method, path, token string }{
		{"GET", "/v1/users/me", users[0].Token},
		{"GET", "/v1/polls/" + pollID, users[1].Token},
		{"GET", "/v1/circles/" + circleID, users[2].Token},
		{"POST", "/v1/polls/" + pollID + "/vote", users[2].Token},
		{"POST", "/v1/auth/device-login", ""},
		{"GET", "/v1/users/me", fresh.Token},
	}
	for _, rq := range requests {
		var body any
		switch {
		case strings.HasSuffix(rq.path, "/vote"):
			body = map[string]any{"option_id": opts[0]}
		case strings.HasSuffix(rq.path, "device-login"):
			body = map[string]any{"device_id": "outage-new-device", "platform": "web"}
		}
		r, err := call(rq.method, srv.URL+rq.path, rq.token, body)
		if err != nil {
			t.Fatalf("%s %s: %v", rq.method, rq.path, err)
		}
		if r.Status != 503 || r.Code() != "SERVICE_UNAVAILABLE" || r.Header.Get("Retry-After") != "5" {
			t.Errorf("%s %s during the outage: %d %s Retry-After=%q", rq.method, rq.path, r.Status, r.Raw, r.Header.Get("Retry-After"))
		}
		if d, _ := r.Body["error"].(map[string]any)["details"].(map[string]any); d["reason"] != "database_unavailable" {
			t.Errorf("%s %s: details %v", rq.method, rq.path, d)
		}
	}
	if r, _ := call("GET", srv.URL+"/health/detailed", "", nil); r.Status != 503 {
		t.Errorf("/health/detailed during the outage: %d %s", r.Status, r.Raw)
	}
	// Liveness stays up: restarting the replica would not bring its database back.
	if r, _ := call("GET", srv.URL+"/health", "", nil); r.Status != 200 {
		t.Errorf("/health during the outage: %d %s", r.Status, r.Raw)
	}

	// A live subscription that needs the database gets a retryable error frame, and several
	// do not count as the client's mistakes (10 of those close the connection).
	for i := range 12 {
		writeFrame(t, watcher, map[string]any{"type": "subscribe", "id": 100 + i, "channel": "poll:" + pollID})
		f := watcher.read(10 * time.Second)
		if f["type"] != "error" || f["code"] != "SERVICE_UNAVAILABLE" || num(f["id"]) != 100+i {
			t.Fatalf("subscribe during the outage: %v", f)
		}
	}
	// First-frame auth of a token the replica has not checked yet: 1013, not 4001 (which
	// would send the app to its login screen).
	if code := firstFrameAuthClose(t, srv.URL, fresh.Token); code != 1013 {
		t.Errorf("first-frame auth during the outage closed %d, want 1013", code)
	}

	pg.Start()
	recovered := false
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if r, err := call("GET", srv.URL+"/v1/users/me", users[0].Token, nil); err == nil && r.Status == 200 {
			recovered = true
			break
		}
	}
	if !recovered {
		t.Fatal("the replica did not recover within 30 s of PostgreSQL's restart")
	}
	must(t, 201, "POST", srv.URL+"/v1/polls/"+pollID+"/vote", users[2].Token, map[string]any{"option_id": opts[0]})
	must(t, 200, "GET", srv.URL+"/v1/users/me", fresh.Token, nil)
	if d := watcher.subscribe(200, "poll:"+pollID); num(d["total_votes"]) != 1 {
		t.Errorf("snapshot after recovery: %v", d)
	}
	if r, _ := call("GET", srv.URL+"/health/detailed", "", nil); r.Status != 200 {
		t.Errorf("/health/detailed after recovery: %d %s", r.Status, r.Raw)
	}
	if logs := srv.stderr.String(); strings.Contains(logs, `"level":"error"`) {
		t.Errorf("the outage logged errors:\n%s", logs)
	} else if !strings.Contains(logs, "database unavailable") {
		t.Errorf("the outage logged nothing at warn:\n%s", logs)
	}
}

func writeFrame(t *testing.T, w *wsConn, frame map[string]any) {
	t.Helper()
	b, _ := json.Marshal(frame)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
}

// firstFrameAuthClose dials without a header, authenticates with its first frame and returns
// the close code the server ends the connection with (0 if it answered ready).
func firstFrameAuthClose(t *testing.T, base, token string) websocket.StatusCode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/v1/ws", nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.CloseNow()
	b, _ := json.Marshal(map[string]any{"type": "auth", "token": token})
	if err := c.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
	_, msg, err := c.Read(ctx)
	if err == nil {
		t.Logf("first-frame auth answered %s", msg)
		return 0
	}
	var ce websocket.CloseError
	if !errors.As(err, &ce) {
		t.Fatalf("first-frame auth: %v", err)
	}
	return ce.Code
}
