package e2e_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestScheduledCloseInTheBinary: the scheduler `serve` starts closes a 2 s poll within 5 s of
// its deadline, by itself (nothing reads the poll meanwhile, so no lazy close can do it), with
// the exact final tally; later votes are POLL_CLOSED and the members have their notifications.
func TestScheduledCloseInTheBinary(t *testing.T) {
	p := startServer(t, "jobs", map[string]string{"DATA_DIR": t.TempDir(), "POLL_MIN_DURATION": "2s",
		"TALLY_RELEASE_BATCH": "3", "LOG_FORMAT": "json"})
	base := p.URL
	users := make([]user, 3)
	for i := range users {
		u, err := login(base, fmt.Sprintf("jobs-device-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		users[i] = u
	}
	c := formCircle(t, base, "Jobs", users)
	deadline := time.Now().Add(2500 * time.Millisecond)
	poll := must(t, 201, "POST", base+"/v1/polls", users[0].Token, map[string]any{"circle_id": c["id"],
		"template_id": firstTemplate(t, base, users[0].Token), "deadline": deadline.UTC().Format(time.RFC3339Nano)})
	pollID := poll["id"].(string)
	ids, _ := optionsOf(t, poll)
	must(t, 201, "POST", base+"/v1/polls/"+pollID+"/vote", users[1].Token, map[string]any{"option_id": ids[1]})
	must(t, 201, "POST", base+"/v1/polls/"+pollID+"/vote", users[2].Token, map[string]any{"option_id": ids[0]})

	var closedSeen time.Time
	for limit := time.Now().Add(15 * time.Second); time.Now().Before(limit); time.Sleep(50 * time.Millisecond) {
		if closeLogged(p.stderr.String()) {
			closedSeen = time.Now()
			break
		}
	}
	if closedSeen.IsZero() {
		t.Fatal("the close job never closed the poll")
	}
	if late := closedSeen.Sub(deadline); late > 5*time.Second {
		t.Fatalf("closed %s after the deadline, want within 5 s", late)
	}
	r, err := call("POST", base+"/v1/polls/"+pollID+"/vote", users[0].Token, map[string]any{"option_id": ids[0]})
	if err != nil || r.Status != 409 || r.Code() != "POLL_CLOSED" {
		t.Fatalf("vote after close: %d %s %v, want 409 POLL_CLOSED", r.Status, r.Code(), err)
	}
	res := must(t, 200, "GET", base+"/v1/polls/"+pollID+"/results", users[1].Token, nil)
	if res["is_closed"] != true || num(res["total_votes"]) != 2 || num(res["version"]) != 1 {
		t.Fatalf("results %v, want closed with the exact 2 votes at version 1", res)
	}
	n := must(t, 200, "GET", base+"/v1/notifications?status=unread", users[1].Token, nil)
	if num(n["unread_count"]) != 3 { // poll_start, poll_result, picked
		t.Fatalf("member notifications %v, want poll_start, poll_result and picked", n)
	}
}

// closeLogged tells whether the close job logged a run that closed a poll.
func closeLogged(stderr string) bool {
	for _, line := range strings.Split(stderr, "\n") {
		if strings.Contains(line, `"job":"close_polls"`) && strings.Contains(line, `"closed":1`) {
			return true
		}
	}
	return false
}
