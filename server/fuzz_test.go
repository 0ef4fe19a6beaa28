package server_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"circly"
	"circly/hub"
	"circly/internal/testdb"
	"circly/server"

	"github.com/coder/websocket"
)

// The fuzz targets below run their seed corpus (testdata/fuzz/...) with every `go test`; run one
// for longer with `go test ./server -run '^$' -fuzz FuzzJSONBody -fuzztime 60s`.

// jsonRoutes are the operations that read a JSON body; {poll} and {circle} become real ids.
var jsonRoutes = []struct{ method, path string }{
	{"POST", "/v1/auth/device-login"}, {"POST", "/v1/auth/refresh"}, {"PUT", "/v1/users/me"},
	{"POST", "/v1/circles"}, {"POST", "/v1/circles/join"}, {"PUT", "/v1/circles/{circle}"},
	{"POST", "/v1/polls"}, {"PUT", "/v1/polls/{poll}"}, {"POST", "/v1/polls/{poll}/vote"},
	{"POST", "/v1/reports"}, {"PUT", "/v1/notifications/settings"},
}

// FuzzJSONBody: whatever bytes arrive as a JSON body of any operation, the answer is the
// contract's envelope with the status its code maps to; never a 5xx, never a panic.
func FuzzJSONBody(f *testing.F) {
	e := newEnv(f, testdb.Dialects[0], noPollLimits())
	c := e.newCircle(4)
	poll := e.newPoll(c)
	voter := c.Members[1]
	f.Add(uint8(0), []byte(`{"device_id":"fuzz-device","platform":"ios"}`))
	f.Add(uint8(8), []byte(`{"option_id":"`+optionIDs(f, poll)[0]+`"}`))
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		rt := jsonRoutes[int(route)%len(jsonRoutes)]
		path := strings.NewReplacer("{poll}", poll["id"].(string), "{circle}", c.ID).Replace(rt.path)
		r, err := e.send(rt.method, path, voter.Token, string(body))
		if err != nil {
			t.Fatalf("%s %s: %v", rt.method, path, err)
		}
		if r.Status >= 500 {
			t.Fatalf("%s %s %q: %d %s", rt.method, path, body, r.Status, r.Raw)
		}
		ok, isBool := r.Body["success"].(bool)
		if !isBool {
			t.Fatalf("%s %s %q: no envelope: %d %s", rt.method, path, body, r.Status, r.Raw)
		}
		if ok {
			if r.Status >= 300 {
				t.Fatalf("%s %s: success with status %d", rt.method, path, r.Status)
			}
			return
		}
		code := circly.Code(r.Code())
		if code == "" || server.StatusOf(code) != r.Status {
			t.Fatalf("%s %s %q: code %q with status %d: %s", rt.method, path, body, code, r.Status, r.Raw)
		}
	})
}

// liveAnswers are the frame types a client message may be answered with.
var liveAnswers = map[string]bool{"error": true, "pong": true, "subscribed": true, "unsubscribed": true}

// FuzzLiveFrame: whatever one client message holds, sent as text or binary, before or after
// authentication, over a real WebSocket, the server answers with one frame of the contract or
// closes with a contract close code; it never panics and never goes silent.
func FuzzLiveFrame(f *testing.F) {
	e, _ := newLiveEnv(f, testdb.Dialects[0], hub.Limits{MaxConnsPerUser: 1 << 20})
	u := e.login()
	f.Add([]byte(`{"type":"subscribe","id":1,"channel":"user:`+u.ID+`"}`), false, false)
	f.Add([]byte(`{"type":"ping","id":7}`), true, false)
	f.Add([]byte(`{"type":"auth","token":"not-a-token"}`), false, true)
	f.Fuzz(func(t *testing.T, msg []byte, binary, firstFrame bool) {
		token := u.Token
		if firstFrame {
			token = ""
		}
		w, _, err := e.dialWS(t, "/v1/ws", token)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer w.c.CloseNow()
		if !firstFrame {
			w.expect("ready")
		}
		typ := websocket.MessageText
		if binary {
			typ = websocket.MessageBinary
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = w.c.Write(ctx, typ, msg) // a refused message may close the connection first
		wantClose := map[websocket.StatusCode]bool{}
		switch {
		case binary:
			wantClose[websocket.StatusUnsupportedData] = true // 1003
		case len(msg) > server.MaxClientFrame:
			wantClose[websocket.StatusMessageTooBig] = true // 1009
		case firstFrame:
			wantClose[4001] = true
		}
		_, data, err := w.c.Read(ctx)
		if err != nil {
			code := websocket.CloseStatus(err)
			if !wantClose[code] {
				t.Fatalf("message %q (binary %v, first frame %v): ended with %v, want one of %v", msg, binary, firstFrame, err, wantClose)
			}
			return
		}
		if len(wantClose) > 0 {
			t.Fatalf("message %q (binary %v, first frame %v): answered %s, want a close", msg, binary, firstFrame, data)
		}
		var frame struct {
			Type string `json:"type"`
			Code string `json:"code"`
		}
		if err := json.Unmarshal(data, &frame); err != nil || !liveAnswers[frame.Type] {
			t.Fatalf("message %q: answer %s is not a contract frame", msg, data)
		}
	})
}
