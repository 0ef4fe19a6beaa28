package server_test

import (
	"testing"

	"circly/hub"
	"circly/internal/testdb"
	"circly/realtime"
)

// TestLiveTallyFlow: a watcher subscribes, members vote, the watcher sees each released tally
// in version order after its snapshot.
func TestLiveTallyFlow(t *testing.T) {
	for _, d := range testdb.Dialects {
		t.Run(string(d), func(t *testing.T) {
			e, _ := newLiveEnv(t, d, hub.Limits{})
			c := e.newCircle(4)
			p := e.newPoll(c)
			pid := p["id"].(string)
			ch := realtime.PollChannel(pid)
			w := e.connect(t, c.Members[1])
			snap := w.subscribe(1, ch)
			if num(t, snap["version"]) != 0 || snap["poll_id"] != pid {
				t.Fatalf("snapshot %v", snap)
			}
			opts := optionIDs(t, p)
			e.vote(c.Members[0], pid, opts[0])
			e.vote(c.Members[2], pid, opts[0])
			d2 := w.untilTally(ch, 2)
			if num(t, d2["total_votes"]) != 2 {
				t.Fatalf("tally %v", d2)
			}
		})
	}
}

// TestPollLiveEndpoint: /v1/polls/{id}/live answers ready then subscribed (no id), then tallies.
func TestPollLiveEndpoint(t *testing.T) {
	e, _ := newLiveEnv(t, testdb.Dialects[0], hub.Limits{})
	c := e.newCircle(3)
	p := e.newPoll(c)
	pid := p["id"].(string)
	w, _, err := e.dialWS(t, "/v1/polls/"+pid+"/live", c.Members[1].Token)
	if err != nil {
		t.Fatal(err)
	}
	w.expect("ready")
	f := w.expect("subscribed")
	if f["channel"] != realtime.PollChannel(pid) || f["id"] != nil {
		t.Fatalf("subscribed %v", f)
	}
	e.vote(c.Members[0], pid, optionIDs(t, p)[0])
	w.untilTally(realtime.PollChannel(pid), 1)
}
