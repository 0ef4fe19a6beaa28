package loadtest

import (
	"encoding/json"
	"testing"
)

func TestParseFrame(t *testing.T) {
	tally, _ := json.Marshal(map[string]any{"type": "tally", "channel": "poll:p1",
		"data": map[string]any{"poll_id": "p1", "version": 42, "total_votes": 42, "is_closed": false,
			"options": []map[string]any{{"option_id": "o1", "vote_count": 40}}}})
	cases := []struct {
		name, in, typ, channel, code string
		version, id                  int64
	}{
		{"tally", string(tally), "tally", "poll:p1", "", 42, -1},
		{"ready", `{"type":"ready","user_id":"u1"}`, "ready", "", "", -1, -1},
		{"subscribed first", `{"type":"subscribed","id":3,"channel":"poll:p2","data":{"poll_id":"p2","version":0,"total_votes":0,"options":[],"is_closed":false}}`, "subscribed", "poll:p2", "", 0, 3},
		{"error", `{"type":"error","id":1,"code":"NOT_CIRCLE_MEMBER","message":"no"}`, "error", "", "NOT_CIRCLE_MEMBER", -1, 1},
		{"closed with a tricky question", `{"type":"poll_closed","channel":"poll:p3","data":{"poll_id":"p3","question_text":"who says \"version\":7 ?","total_votes":3,"is_closed":true,"version":4,"results":[],"winner":null}}`, "poll_closed", "poll:p3", "", 4, -1},
		{"spaces (slow path)", `{ "type" : "pong", "id": 3 }`, "pong", "", "", -1, 3},
	}
	for _, c := range cases {
		f, err := parseFrame([]byte(c.in))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if string(f.Type) != c.typ || string(f.Channel) != c.channel || string(f.Code) != c.code || f.Version != c.version || f.ID != c.id {
			t.Errorf("%s: got type=%q channel=%q code=%q version=%d id=%d", c.name, f.Type, f.Channel, f.Code, f.Version, f.ID)
		}
	}
	if _, err := parseFrame([]byte(`not json`)); err == nil {
		t.Error("no error for garbage")
	}
}
