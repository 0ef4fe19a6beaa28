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

func TestParseCentrifuge(t *testing.T) {
	cases := []struct {
		name, in, typ, channel, code string
		version, id                  int64
	}{
		{"publication", `{"push":{"channel":"poll:p1","pub":{"data":{"poll_id":"p1","version":7,"total_votes":7,"options":[],"is_closed":false}}}}`, "tally", "poll:p1", "", 7, -1},
		{"ping", `{}`, "ping", "", "", -1, -1},
		{"connect reply", `{"id":1073741824,"connect":{"client":"c","version":"0.0.0","ping":25,"pong":true}}`, "ready", "", "", -1, 1 << 30},
		{"subscribe reply", `{"id":2,"subscribe":{}}`, "subscribed", "", "", 0, 2},
		{"subscribe reply with the last tally", `{"id":3,"subscribe":{"publications":[{"data":{"poll_id":"p1","version":4}}]}}`, "subscribed", "", "", 4, 3},
		{"error", `{"id":2,"error":{"code":103,"message":"permission denied"}}`, "error", "", "centrifuge 103", -1, 2},
		{"disconnect", `{"push":{"disconnect":{"code":3001,"reason":"shutdown"}}}`, "reconnect", "", "", -1, -1},
		{"spaces (slow path)", `{"push": {"channel": "poll:p2", "pub": {"data": {"version": 3}}}}`, "tally", "poll:p2", "", 3, -1},
	}
	for _, c := range cases {
		f, err := parseCentrifuge([]byte(c.in))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if string(f.Type) != c.typ || string(f.Channel) != c.channel || string(f.Code) != c.code || f.Version != c.version || f.ID != c.id {
			t.Errorf("%s: got type=%q channel=%q code=%q version=%d id=%d", c.name, f.Type, f.Channel, f.Code, f.Version, f.ID)
		}
	}
	if _, err := parseCentrifuge([]byte(`not json`)); err == nil {
		t.Error("no error for garbage")
	}
}

// The generator's per-frame parse on a 50-member poll's tally, for each protocol: the Circly
// path must not cost more than the peer's (go test -bench Parse ./loadtest).
func benchTally(b *testing.B) []byte {
	pop, err := PeerPopulation("bench-secret-0123456789", 1, 50, 1)
	if err != nil {
		b.Fatal(err)
	}
	return TallyJSON(nil, pop.Polls[0][0], 1234)
}

func BenchmarkParseFrameCircly(b *testing.B) {
	tally := benchTally(b)
	msg := append(append([]byte(`{"type":"tally","channel":"poll:`), tally[len(`{"poll_id":"`):][:36]...), `","data":`...)
	msg = append(append(msg, tally...), '}')
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if f, err := parseFrame(msg); err != nil || f.Version != 1234 {
			b.Fatal(f, err)
		}
	}
}

func BenchmarkParseFrameCentrifuge(b *testing.B) {
	tally := benchTally(b)
	msg := append(append([]byte(`{"push":{"channel":"poll:`), tally[len(`{"poll_id":"`):][:36]...), `","pub":{"data":`...)
	msg = append(append(msg, tally...), `}}}`...)
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if f, err := parseCentrifuge(msg); err != nil || f.Version != 1234 {
			b.Fatal(f, err)
		}
	}
}
