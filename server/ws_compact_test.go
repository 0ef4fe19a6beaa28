package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"circly"
	"circly/app"
	"circly/hub"
	"circly/internal/testdb"
	"circly/realtime"

	"github.com/coder/websocket"
)

// nextRaw reads one frame as the server wrote it.
func (w *wsClient) nextRaw() []byte {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, b, err := w.c.Read(ctx)
	if err != nil {
		w.t.Fatalf("read: %v", err)
	}
	return b
}

// voteAround has each member vote for the option at want[i] in display order, or the next one
// when that is the member's own; it returns the counts in display order.
func (e *env) voteAround(c circle, pollID string, want []int) []int {
	e.t.Helper()
	var counts []int
	for i, u := range c.Members {
		p := e.must(200, e.request("GET", "/v1/polls/"+pollID, u.Token, nil))
		opts := list(e.t, p["options"])
		if counts == nil {
			counts = make([]int, len(opts))
		}
		k := want[i] % len(opts)
		if opts[k]["is_self"] == true {
			k = (k + 1) % len(opts)
		}
		e.vote(u, pollID, opts[k]["id"].(string))
		counts[k]++
	}
	return counts
}

// TestWSCompactAndFullTallies: two real WebSocket clients watch one poll, one with
// ?tally=compact and one without. Members vote and the poll closes; both end on the final
// tally with the counts the REST API reports, each in its own form (the compact one rebuilt
// from the option ids of its snapshot).
func TestWSCompactAndFullTallies(t *testing.T) {
	for _, d := range testdb.Dialects {
		t.Run(string(d), func(t *testing.T) {
			e, _ := newLiveEnv(t, d, hub.Limits{})
			c := e.newCircle(6)
			p := e.newPoll(c)
			pid := p["id"].(string)
			ch := realtime.PollChannel(pid)
			ids, _ := options(p)

			full := e.connect(t, c.Members[1])
			cw, _, err := e.dialWS(t, "/v1/ws?tally=compact", c.Members[2].Token)
			if err != nil {
				t.Fatal(err)
			}
			cw.expect("ready")
			if snap := full.subscribe(1, ch); snap["options"] == nil || snap["option_ids"] != nil || snap["counts"] != nil {
				t.Fatalf("full snapshot %v", snap)
			}
			snap := cw.subscribe(1, ch)
			if snap["options"] != nil || num(t, snap["version"]) != 0 || snap["is_closed"] != false {
				t.Fatalf("compact snapshot %v", snap)
			}
			if fmt.Sprint(snap["option_ids"]) != fmt.Sprint(anySlice(ids)) || len(list2(t, snap["counts"])) != len(ids) {
				t.Fatalf("compact snapshot %v, option ids in display order %v", snap, ids)
			}

			want := e.voteAround(c, pid, []int{0, 0, 1, 0, 2, 3})
			e.advance(2 * time.Hour)
			e.must(200, e.request("GET", "/v1/polls/"+pid, c.Members[0].Token, nil)) // closes it
			results := e.must(200, e.request("GET", "/v1/polls/"+pid+"/results", c.Members[0].Token, nil))
			restCounts := map[string]float64{}
			for _, r := range list(t, results["results"]) {
				restCounts[r["option_id"].(string)] = num(t, r["vote_count"])
			}
			for i, id := range ids {
				if restCounts[id] != float64(want[i]) {
					t.Fatalf("REST counts %v, voted %v", restCounts, want)
				}
			}
			finalVersion := num(t, results["version"])

			// The full client: today's shapes, ending on the ranked final results.
			last := -1.0
			for {
				f := full.read()
				data, _ := f["data"].(map[string]any)
				if f["type"] == "poll_closed" {
					if num(t, data["version"]) != finalVersion || data["is_closed"] != true || data["counts"] != nil {
						t.Fatalf("full poll_closed %v", f)
					}
					for _, r := range list(t, data["results"]) {
						if num(t, r["vote_count"]) != restCounts[r["option_id"].(string)] {
							t.Fatalf("full final %v, REST %v", data, restCounts)
						}
					}
					break
				}
				if f["type"] != "tally" || data["options"] == nil || data["counts"] != nil || num(t, data["version"]) <= last {
					t.Fatalf("full client got %v after version %v", f, last)
				}
				last = num(t, data["version"])
			}

			// The compact client: counts only, in the snapshot's option order.
			last = -1
			for {
				b := cw.nextRaw()
				var f struct {
					Type, Channel string
					Data          struct {
						Version    *float64  `json:"version"`
						TotalVotes float64   `json:"total_votes"`
						Counts     []float64 `json:"counts"`
						IsClosed   *bool     `json:"is_closed"`
						Options    any       `json:"options"`
						PollID     any       `json:"poll_id"`
					}
				}
				if err := json.Unmarshal(b, &f); err != nil {
					t.Fatal(err)
				}
				if f.Channel != ch || f.Data.Version == nil || f.Data.IsClosed == nil || f.Data.Options != nil || f.Data.PollID != nil ||
					len(f.Data.Counts) != len(ids) || *f.Data.Version <= last || len(b) > 512 {
					t.Fatalf("compact client got %s after version %v", b, last)
				}
				last = *f.Data.Version
				if f.Type == "poll_closed" {
					if !*f.Data.IsClosed || *f.Data.Version != finalVersion || f.Data.TotalVotes != float64(len(c.Members)) {
						t.Fatalf("compact poll_closed %s", b)
					}
					for i, n := range f.Data.Counts {
						if n != float64(want[i]) {
							t.Fatalf("compact final counts %v, want %v", f.Data.Counts, want)
						}
					}
					break
				}
				if f.Type != "tally" {
					t.Fatalf("compact client got %s", b)
				}
			}
		})
	}
}

func anySlice(s []string) []any {
	out := make([]any, len(s))
	for i, x := range s {
		out[i] = x
	}
	return out
}

func list2(t testing.TB, v any) []any {
	t.Helper()
	a, ok := v.([]any)
	if !ok {
		t.Fatalf("%v is not an array", v)
	}
	return a
}

// TestWSFullFormUnchanged: a client that does not negotiate (or asks for tally=full) gets
// byte for byte the frames of before the compact form; an unknown form is refused before the
// upgrade.
func TestWSFullFormUnchanged(t *testing.T) {
	e, _ := newLiveEnv(t, testdb.Dialects[0], hub.Limits{})
	c := e.newCircle(3)
	p := e.newPoll(c)
	pid := p["id"].(string)
	ch := realtime.PollChannel(pid)
	ids, _ := options(p)
	tally := func(version int, counts []int) string {
		var opts []string
		for i, id := range ids {
			opts = append(opts, fmt.Sprintf(`{"option_id":"%s","vote_count":%d}`, id, counts[i]))
		}
		total := 0
		for _, n := range counts {
			total += n
		}
		return fmt.Sprintf(`{"poll_id":"%s","version":%d,"total_votes":%d,"options":[%s],"is_closed":false}`, pid, version, total, strings.Join(opts, ","))
	}
	var clients []*wsClient
	for _, path := range []string{"/v1/ws", "/v1/ws?tally=full"} {
		w, _, err := e.dialWS(t, path, c.Members[1].Token)
		if err != nil {
			t.Fatal(err)
		}
		w.expect("ready")
		w.send(map[string]any{"type": "subscribe", "id": 1, "channel": ch})
		want := `{"type":"subscribed","id":1,"channel":"` + ch + `","data":` + tally(0, make([]int, len(ids))) + `}`
		if got := string(w.nextRaw()); got != want {
			t.Fatalf("%s: subscribed\n got %s\nwant %s", path, got, want)
		}
		clients = append(clients, w)
	}
	// Member 0 votes for the option after its own.
	mine := e.must(200, e.request("GET", "/v1/polls/"+pid, c.Members[0].Token, nil))
	k := 0
	for i, o := range list(t, mine["options"]) {
		if o["is_self"] == true {
			k = (i + 1) % len(ids)
		}
	}
	e.vote(c.Members[0], pid, ids[k])
	counts := make([]int, len(ids))
	counts[k] = 1
	want := `{"type":"tally","channel":"` + ch + `","data":` + tally(1, counts) + `}`
	for _, w := range clients {
		if got := string(w.nextRaw()); got != want {
			t.Fatalf("tally\n got %s\nwant %s", got, want)
		}
	}
	upgradeFail(t, e, "/v1/ws?tally=tiny", c.Members[1].Token, 400, "VALIDATION_ERROR")
	upgradeFail(t, e, "/v1/polls/"+pid+"/live?tally=COMPACT", c.Members[1].Token, 400, "VALIDATION_ERROR")
}

// TestPollLiveCompact: /v1/polls/{id}/live?tally=compact starts with the compact snapshot.
func TestPollLiveCompact(t *testing.T) {
	e, _ := newLiveEnv(t, testdb.Dialects[0], hub.Limits{})
	c := e.newCircle(3)
	p := e.newPoll(c)
	pid := p["id"].(string)
	w, _, err := e.dialWS(t, "/v1/polls/"+pid+"/live?tally=compact", c.Members[1].Token)
	if err != nil {
		t.Fatal(err)
	}
	w.expect("ready")
	f := w.expect("subscribed")
	d := f["data"].(map[string]any)
	if d["option_ids"] == nil || d["counts"] == nil || d["options"] != nil {
		t.Fatalf("subscribed %v", f)
	}
}

// BenchmarkWSTallyFanOut: one 50-member poll's tally fanned out to 200 real WebSocket clients
// over loopback, per form; the time per tally includes the clients' reads (same process).
// It reports the bytes each client reads per tally.
func BenchmarkWSTallyFanOut(b *testing.B) {
	const clients = 200
	for _, form := range []string{"full", "compact"} {
		b.Run(form, func(b *testing.B) {
			e, l := newLiveEnv(b, testdb.Dialects[0], hub.Limits{MaxConnsPerUser: clients})
			c := e.newCircle(3)
			p := e.newPoll(c)
			pid := p["id"].(string)
			var got atomic.Int64
			var read atomic.Int64
			for i := 0; i < clients; i++ {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				ws, _, err := websocket.Dial(ctx, e.wsURL("/v1/polls/"+pid+"/live?tally="+form),
					&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + c.Members[1].Token}}})
				cancel()
				if err != nil {
					b.Fatal(err)
				}
				ws.SetReadLimit(1 << 20)
				b.Cleanup(func() { _ = ws.CloseNow() })
				for range 2 { // ready, subscribed
					if _, _, err := ws.Read(context.Background()); err != nil {
						b.Fatal(err)
					}
				}
				go func() {
					for {
						_, m, err := ws.Read(context.Background())
						if err != nil {
							return
						}
						read.Add(int64(len(m)))
						got.Add(1)
					}
				}()
			}
			tl := circly.Tally{PollID: pid, TotalVotes: 50}
			for i := 0; i < 50; i++ {
				tl.Options = append(tl.Options, circly.OptionCount{OptionID: fmt.Sprintf("%08x-5e6f-4a7b-8c9d-%012x", i+1, i), VoteCount: i % 3})
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				tl.Version = 100 + i
				if err := l.broker.Publish(context.Background(), app.TallyMessage(tl)); err != nil {
					b.Fatal(err)
				}
				for got.Load() < int64(clients*(i+1)) {
					time.Sleep(20 * time.Microsecond)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(read.Load())/float64(got.Load()), "bytes/frame")
		})
	}
}
