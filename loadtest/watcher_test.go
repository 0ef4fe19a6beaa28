package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// fakeHub speaks the server side of the live protocol just enough to exercise the fleet: ready,
// subscribed with the current version, and tallies the test publishes. The real hub's behavior
// is measured by the scenarios; this checks the generator's own bookkeeping.
type fakeHub struct {
	mu      sync.Mutex
	version map[string]int64 // channel → current version
	subs    map[string][]*websocket.Conn
	conns   int
	fail    int // subscribe requests still to answer with INTERNAL_ERROR
}

func newFakeHub(t *testing.T) (*fakeHub, string) {
	h := &fakeHub{version: map[string]int64{}, subs: map[string][]*websocket.Conn{}}
	ts := httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(ts.Close)
	return h, ts.URL
}

func (h *fakeHub) serve(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		http.Error(w, "no token", http.StatusUnauthorized)
		return
	}
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx := context.Background()
	h.mu.Lock()
	h.conns++
	h.mu.Unlock()
	if c.Write(ctx, websocket.MessageText, []byte(`{"type":"ready","user_id":"u"}`)) != nil {
		return
	}
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			return
		}
		var f struct {
			ID      int    `json:"id"`
			Channel string `json:"channel"`
		}
		if json.Unmarshal(b, &f) != nil {
			return
		}
		h.mu.Lock()
		if h.fail > 0 {
			h.fail--
			h.mu.Unlock()
			if c.Write(ctx, websocket.MessageText, fmt.Appendf(nil, `{"type":"error","id":%d,"code":"INTERNAL_ERROR","message":"x"}`, f.ID)) != nil {
				return
			}
			continue
		}
		v := h.version[f.Channel]
		h.subs[f.Channel] = append(h.subs[f.Channel], c)
		h.mu.Unlock()
		id := strings.TrimPrefix(f.Channel, "poll:")
		msg := fmt.Sprintf(`{"type":"subscribed","id":%d,"channel":%q,"data":{"poll_id":%q,"version":%d,"total_votes":%d,"options":[],"is_closed":false}}`, f.ID, f.Channel, id, v, v)
		if c.Write(ctx, websocket.MessageText, []byte(msg)) != nil {
			return
		}
	}
}

// publish sets a poll's version and sends the tally to every subscriber.
func (h *fakeHub) publish(pollID string, v int64) {
	ch := "poll:" + pollID
	h.mu.Lock()
	h.version[ch] = v
	subs := append([]*websocket.Conn(nil), h.subs[ch]...)
	h.mu.Unlock()
	msg := fmt.Sprintf(`{"type":"tally","channel":%q,"data":{"poll_id":%q,"version":%d,"total_votes":%d,"options":[],"is_closed":false}}`, ch, pollID, v, v)
	for _, c := range subs {
		_ = c.Write(context.Background(), websocket.MessageText, []byte(msg))
	}
}

func (h *fakeHub) forget() {
	h.mu.Lock()
	h.subs = map[string][]*websocket.Conn{}
	h.mu.Unlock()
}

func TestFleetLatencyStalenessAndStorm(t *testing.T) {
	hub, base := newFakeHub(t)
	polls := []string{"p0", "p1"}
	tr := NewTracker(polls, 5)
	src := NewSources(2, 3)
	hc := NewHTTPClient(src, 1)
	hc.Timeout = 0
	f := NewFleet(tr, hc, 4)
	f.Reconnect = true
	const n = 6
	ws := make([]*Watcher, n)
	for i := range ws {
		ws[i] = &Watcher{URL: WSURL(base, "/v1/ws"), Token: "t", Polls: []int{0, 1}}
	}
	ctx := context.Background()
	f.Start(ctx, ws)
	if got := f.WaitSubscribed(n, 10*time.Second); got != n {
		t.Fatalf("%d of %d subscribed", got, n)
	}
	if tr.Snapshots.Load() != 2*n {
		t.Fatalf("%d snapshots", tr.Snapshots.Load())
	}

	// Poll 0: version 1 answered before its tally, version 2 after its tally (the frame beats
	// the vote's answer), then version 4 arrives while 3 is skipped (conflation).
	tr.VoteDone(0, 1, tr.Now())
	hub.publish("p0", 1)
	sent2 := tr.Now()
	hub.publish("p0", 2)
	waitFor(t, func() bool { return tr.Frames.Load() >= 2*n }, "tallies of p0") // version 2 now waits for its vote answer
	tr.VoteDone(0, 2, sent2)
	tr.VoteDone(0, 3, tr.Now())
	tr.VoteDone(0, 4, tr.Now())
	if stale := f.Staleness(false); stale != n {
		t.Fatalf("%d stale watchers before version 4 went out, want %d", stale, n)
	}
	hub.publish("p0", 4)
	waitFor(t, func() bool { return f.Staleness(false) == 0 }, "every watcher on version 4")
	if got := tr.Frames.Load(); got != 3*n {
		t.Fatalf("%d tally frames, want %d", got, 3*n)
	}

	// A storm: cut everything; all redial and resubscribe, and the snapshot brings a version
	// published while they were away (a latency like any other).
	hub.forget()
	t0 := tr.Now()
	f.DropAll()
	tr.VoteDone(1, 1, tr.Now())
	hub.publish("p1", 1)
	waitFor(t, func() bool { return f.SubscribedSince(t0) == n }, "resubscribed after the storm")
	if f.Disconnects.Load() < n {
		t.Fatalf("%d disconnects seen", f.Disconnects.Load())
	}
	if stale := f.Staleness(true); stale != 0 {
		t.Fatalf("%d stale after the storm", stale)
	}
	if orphans := f.Stop(); orphans != 0 {
		t.Fatalf("%d orphan versions", orphans)
	}
	// Per watcher: versions 1–4 of p0 and 1 of p1, each exactly once.
	if got := tr.Latency.Count(); got != 5*n {
		t.Fatalf("%d latencies, want %d", got, 5*n)
	}
	if got := tr.Convergence.Count(); got != 2*n {
		t.Fatalf("%d convergence samples, want %d", got, 2*n)
	}
	if d, e, _ := f.Counts(); len(d)+len(e) != 0 {
		t.Fatalf("dial errors %v, error frames %v", d, e)
	}
}

func TestFleetCountsRefusedDials(t *testing.T) {
	_, base := newFakeHub(t)
	tr := NewTracker(nil, 0)
	hc := NewHTTPClient(NewSources(2, 1), 1)
	hc.Timeout = 0
	f := NewFleet(tr, hc, 2)
	f.Start(context.Background(), []*Watcher{{URL: WSURL(base, "/v1/ws")}}) // no token: 401
	waitFor(t, func() bool { d, _, _ := f.Counts(); return d["HTTP 401"] == 1 }, "the refused dial counted")
	f.Stop()
	if f.Subscribed.Load() != 0 {
		t.Fatal("a refused watcher counts as subscribed")
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestFleetRetriesSubscriptionsAfterServerErrors(t *testing.T) {
	hub, base := newFakeHub(t)
	hub.fail = 3
	tr := NewTracker([]string{"p0", "p1"}, 1)
	hc := NewHTTPClient(NewSources(2, 1), 1)
	hc.Timeout = 0
	f := NewFleet(tr, hc, 2)
	ws := []*Watcher{{URL: WSURL(base, "/v1/ws"), Token: "t", Polls: []int{0, 1}}, {URL: WSURL(base, "/v1/ws"), Token: "t", Polls: []int{0, 1}}}
	f.Start(context.Background(), ws)
	if got := f.WaitSubscribed(2, 10*time.Second); got != 2 {
		t.Fatalf("%d of 2 subscribed after retries", got)
	}
	if f.Retries.Load() != 3 || f.Failed.Load() != 0 {
		t.Fatalf("retries %d, failed %d", f.Retries.Load(), f.Failed.Load())
	}
	f.Stop()
}
