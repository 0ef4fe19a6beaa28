package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// subscribeRefused sends a subscribe and returns the error frame that must answer it.
func (w *wsConn) subscribeRefused(id int, channel string) map[string]any {
	w.t.Helper()
	b, _ := json.Marshal(map[string]any{"type": "subscribe", "id": id, "channel": channel})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, b); err != nil {
		w.t.Fatal(err)
	}
	for {
		f := w.read(10 * time.Second)
		if f["type"] == "error" && num(f["id"]) == id {
			return f
		}
		if f["type"] == "subscribed" && f["channel"] == channel {
			w.t.Fatalf("subscribe %s accepted: %v", channel, f)
		}
	}
}

// untilUnsubscribed reads until the channel's subscription is ended by the server.
func (w *wsConn) untilUnsubscribed(channel string, timeout time.Duration) map[string]any {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		f, err := w.next(time.Until(deadline))
		if err != nil {
			w.t.Fatalf("still subscribed to %s after %s: %v", channel, timeout, err)
		}
		if f["type"] == "unsubscribed" && f["channel"] == channel {
			return f
		}
	}
}

var autoHidesPoll = regexp.MustCompile(`(?m)^circly_auto_hides_total\{type="poll"\} (\d+)$`)

// autoHides reads circly_auto_hides_total{type="poll"} from a replica's /metrics.
func autoHides(t *testing.T, base string) int {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	m := autoHidesPoll.FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s/metrics has no circly_auto_hides_total{type=\"poll\"}", base)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// TestHiddenPollAcrossReplicas: two replicas on PostgreSQL and Redis. Twelve members report one
// poll at once, half on each replica (threshold 3): every report gets the same 201, the poll is
// hidden once (one auto-hide counted over both replicas), and its watchers on both replicas get
// `unsubscribed` with reason "hidden". Then a new subscribe on either replica is POLL_NOT_FOUND,
// so are the REST reads and the vote, and the circle's snapshot no longer lists the poll.
func TestHiddenPollAcrossReplicas(t *testing.T) {
	A, B := startReplicas(t)
	replicas := []string{A.URL, B.URL}
	const n = 14
	users := loginMany(t, "hide", n, A.URL, B.URL)
	circle := formCircle(t, A.URL, "Hide", users)
	circleID := circle["id"].(string)
	poll := must(t, 201, "POST", A.URL+"/v1/polls", users[0].Token, map[string]any{
		"circle_id": circleID, "template_id": firstTemplate(t, A.URL, users[0].Token), "duration_hours": 1})
	pollID := poll["id"].(string)
	pollCh, circleCh := "poll:"+pollID, "circle:"+circleID
	opts, _ := optionsOf(t, poll)

	watchers := []*wsConn{dialLive(t, A.URL, users[0].Token), dialLive(t, B.URL, users[0].Token), dialLive(t, B.URL, users[13].Token)}
	for _, w := range watchers {
		w.subscribe(1, pollCh)
	}
	before := autoHides(t, A.URL) + autoHides(t, B.URL)

	answers := make([]string, 12)
	errs := make([]error, 12)
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := call("POST", replicas[i%2]+"/v1/reports", users[i+1].Token,
				map[string]any{"type": "poll", "target_id": pollID, "reason": "bullying"})
			switch {
			case err != nil:
				errs[i] = err
			case r.Status != http.StatusCreated:
				errs[i] = fmt.Errorf("report %d: %d %s", i, r.Status, r.Raw)
			default:
				d := r.Data()
				answers[i] = fmt.Sprint(d["type"], d["target_id"], d["reason"], d["status"], d["description"], len(d))
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
		if answers[i] != answers[0] {
			t.Fatalf("report %d answered %q, report 1 %q", i+1, answers[i], answers[0])
		}
	}

	for i, w := range watchers {
		if f := w.untilUnsubscribed(pollCh, 10*time.Second); f["reason"] != "hidden" {
			t.Fatalf("watcher %d: %v, want reason hidden", i, f)
		}
	}
	if got := autoHides(t, A.URL) + autoHides(t, B.URL) - before; got != 1 {
		t.Fatalf("circly_auto_hides_total{type=poll} grew by %d over both replicas, want 1", got)
	}

	for _, base := range replicas {
		fresh := dialLive(t, base, users[5].Token)
		if f := fresh.subscribeRefused(2, pollCh); f["code"] != "POLL_NOT_FOUND" {
			t.Fatalf("%s: subscribe to the hidden poll: %v", base, f)
		}
		snap := fresh.subscribe(3, circleCh)
		if ids, _ := snap["open_poll_ids"].([]any); len(ids) != 0 {
			t.Fatalf("%s: circle snapshot still lists %v", base, ids)
		}
		for _, req := range []struct {
			method, path string
			body         any
		}{
			{"GET", "/v1/polls/" + pollID, nil},
			{"GET", "/v1/polls/" + pollID + "/results", nil},
			{"POST", "/v1/polls/" + pollID + "/vote", map[string]any{"option_id": opts[1]}},
		} {
			r, err := call(req.method, base+req.path, users[0].Token, req.body)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != http.StatusNotFound || r.Code() != "POLL_NOT_FOUND" {
				t.Fatalf("%s %s%s: %d %s, want 404 POLL_NOT_FOUND", req.method, base, req.path, r.Status, r.Raw)
			}
		}
	}
}
