package server_test

import (
	"testing"
)

// TestPollLoop walks the whole product loop: circle, invite, poll, vote, results.
func TestPollLoop(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		c := e.newCircle(4)
		poll := e.newPoll(c)
		ids, _ := options(poll)
		if len(ids) != 3 {
			t.Fatalf("want 3 options (everyone but the creator), got %d", len(ids))
		}
		pid := poll["id"].(string)
		// members 1..3 vote for option 0 (member 1) except member 1 who votes option 1.
		for i := 1; i < 4; i++ {
			opt := ids[0]
			if i == 1 {
				opt = ids[1]
			}
			d := e.must(201, e.request("POST", "/v1/polls/"+pid+"/vote", c.Members[i].Token, map[string]any{"option_id": opt}))
			if d["tally"].(map[string]any)["version"].(float64) != float64(i) {
				t.Fatalf("vote %d: version %v", i, d["tally"])
			}
		}
		r := e.must(200, e.request("GET", "/v1/polls/"+pid+"/results", c.Members[0].Token, nil))
		if r["total_votes"].(float64) != 3 {
			t.Fatalf("results %v", r)
		}
		w := r["winner"].(map[string]any)
		if w["option_id"] != ids[0] || w["vote_count"].(float64) != 2 {
			t.Fatalf("winner %v", w)
		}
	})
}
