package server_test

import (
	"math"
	"strings"
	"sync"
	"testing"
	"time"
)

// checkTally checks the shape of a released tally, whose options must be ids in display order,
// and returns option id → count.
func checkTally(t *testing.T, tally any, pollID string, ids []string, version, total int, closed bool) map[string]int {
	t.Helper()
	m, ok := tally.(map[string]any)
	if !ok {
		t.Fatalf("tally %v (%T)", tally, tally)
	}
	if len(m) != 5 {
		t.Fatalf("tally fields %v, want exactly poll_id, version, total_votes, options, is_closed", m)
	}
	if m["poll_id"] != pollID || num(t, m["version"]) != float64(version) || num(t, m["total_votes"]) != float64(total) || m["is_closed"] != closed {
		t.Fatalf("tally %v, want poll %s version %d total %d closed %v", m, pollID, version, total, closed)
	}
	counts := map[string]int{}
	sum := 0
	opts := list(t, m["options"])
	if len(opts) != len(ids) {
		t.Fatalf("tally has %d options, the poll %d: %v", len(opts), len(ids), m)
	}
	for i, o := range opts {
		if o["option_id"] != ids[i] {
			t.Fatalf("tally option %d is %v, want %s (display order)", i, o["option_id"], ids[i])
		}
		if len(o) != 2 {
			t.Fatalf("tally option fields %v, want exactly option_id and vote_count", o)
		}
		n := int(num(t, o["vote_count"]))
		counts[o["option_id"].(string)] = n
		sum += n
	}
	if sum != total {
		t.Fatalf("tally counts add up to %d, total_votes %d", sum, total)
	}
	return counts
}

func TestVote(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		c := e.newCircle(4)
		poll := e.newPoll(c)
		pid := poll["id"].(string)
		ids, _ := options(poll)

		before := time.Now().Add(-2 * time.Second)
		d := e.vote(c.Members[0], pid, ids[2])
		if d["poll_id"] != pid || d["option_id"] != ids[2] || len(d) != 4 {
			t.Fatalf("vote answer %v", d)
		}
		if at := parseTime(t, d["voted_at"]); at.Before(before) || at.After(time.Now().Add(2*time.Second)) {
			t.Fatalf("voted_at %v", at)
		}
		counts := checkTally(t, d["tally"], pid, ids, 1, 1, false)
		if counts[ids[2]] != 1 || len(counts) != 3 {
			t.Fatalf("counts %v", counts)
		}
		d = e.vote(c.Members[1], pid, ids[2])
		counts = checkTally(t, d["tally"], pid, ids, 2, 2, false)
		if counts[ids[2]] != 2 {
			t.Fatalf("counts %v", counts)
		}

		g := e.must(200, e.request("GET", "/v1/polls/"+pid, c.Members[1].Token, nil))
		if num(t, g["total_votes"]) != 2 || num(t, g["version"]) != 2 || g["user_voted"] != true {
			t.Fatalf("poll after votes %v", g)
		}
		if num(t, list(t, g["options"])[2]["vote_count"]) != 2 {
			t.Fatalf("options %v", g["options"])
		}
		if g := e.must(200, e.request("GET", "/v1/polls/"+pid, c.Members[2].Token, nil)); g["user_voted"] != false {
			t.Fatalf("user_voted for a member who has not voted: %v", g)
		}

		e.fail(409, "ALREADY_VOTED", e.request("POST", "/v1/polls/"+pid+"/vote", c.Members[1].Token, map[string]any{"option_id": ids[2]}))
		e.fail(409, "ALREADY_VOTED", e.request("POST", "/v1/polls/"+pid+"/vote", c.Members[1].Token, map[string]any{"option_id": ids[1]}))
		// Member 2 is option 1.
		e.fail(400, "SELF_VOTE", e.request("POST", "/v1/polls/"+pid+"/vote", c.Members[2].Token, map[string]any{"option_id": ids[1]}))

		other := e.newPoll(c)
		otherIDs, _ := options(other)
		e.fail(400, "VALIDATION_ERROR", e.request("POST", "/v1/polls/"+pid+"/vote", c.Members[3].Token, map[string]any{"option_id": otherIDs[0]}))
		e.fail(400, "VALIDATION_ERROR", e.request("POST", "/v1/polls/"+pid+"/vote", c.Members[3].Token, map[string]any{"option_id": unknownID}))
		e.fail(400, "VALIDATION_ERROR", e.request("POST", "/v1/polls/"+pid+"/vote", c.Members[3].Token, map[string]any{"option_id": "1"}))
		e.fail(400, "MISSING_REQUIRED_FIELD", e.request("POST", "/v1/polls/"+pid+"/vote", c.Members[3].Token, map[string]any{}))
		e.fail(400, "INVALID_FORMAT", e.request("POST", "/v1/polls/"+pid+"/vote", c.Members[3].Token, map[string]any{"option_id": 1}))
		e.fail(400, "VALIDATION_ERROR", e.request("POST", "/v1/polls/x/vote", c.Members[3].Token, map[string]any{"option_id": ids[0]}))
		e.fail(404, "POLL_NOT_FOUND", e.request("POST", "/v1/polls/"+unknownID+"/vote", c.Members[3].Token, map[string]any{"option_id": ids[0]}))
		e.fail(403, "NOT_CIRCLE_MEMBER", e.request("POST", "/v1/polls/"+pid+"/vote", e.login().Token, map[string]any{"option_id": ids[0]}))
		e.fail(400, "VALIDATION_ERROR", e.request("POST", "/v1/polls/"+pid+"/vote", c.Members[3].Token, map[string]any{"option_id": ids[0]},
			"Idempotency-Key", "has space"))
		e.fail(400, "VALIDATION_ERROR", e.request("POST", "/v1/polls/"+pid+"/vote", c.Members[3].Token, map[string]any{"option_id": ids[0]},
			"Idempotency-Key", strings.Repeat("k", 256)))

		// None of the refused votes counted.
		r := e.must(200, e.request("GET", "/v1/polls/"+pid+"/results", c.Members[0].Token, nil))
		if num(t, r["total_votes"]) != 2 {
			t.Fatalf("results %v", r)
		}
		// The third member still can vote.
		e.vote(c.Members[3], pid, ids[0])
	})
}

func TestVoteClosedPoll(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		c := e.newCircle(3)
		poll := e.newPoll(c)
		pid := poll["id"].(string)
		ids, _ := options(poll)
		e.vote(c.Members[0], pid, ids[0])
		e.advance(61 * time.Minute)
		e.fail(409, "POLL_CLOSED", e.request("POST", "/v1/polls/"+pid+"/vote", c.Members[1].Token, map[string]any{"option_id": ids[1]}))
		g := e.must(200, e.request("GET", "/v1/polls/"+pid, c.Members[1].Token, nil))
		if g["is_closed"] != true || num(t, g["total_votes"]) != 1 || num(t, g["version"]) != 2 {
			t.Fatalf("closed poll %v", g)
		}
		// Still closed when the clock reads it again; results show the final tally.
		r := e.must(200, e.request("GET", "/v1/polls/"+pid+"/results", c.Members[1].Token, nil))
		if r["is_closed"] != true || num(t, r["version"]) != 2 || num(t, r["total_votes"]) != 1 {
			t.Fatalf("results of a closed poll %v", r)
		}
		e.fail(409, "POLL_CLOSED", e.request("POST", "/v1/polls/"+pid+"/vote", c.Members[2].Token, map[string]any{"option_id": ids[0]}))
	})
}

func TestVoteIdempotencyKey(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		c := e.newCircle(4)
		poll := e.newPoll(c)
		pid := poll["id"].(string)
		ids, _ := options(poll)
		u := c.Members[0]
		body := map[string]any{"option_id": ids[1]}

		first := e.request("POST", "/v1/polls/"+pid+"/vote", u.Token, body, "Idempotency-Key", "vote-key-1")
		d1 := e.must(201, first)
		if first.Header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("first answer marked replayed: %v", first.Header)
		}
		if counts := checkTally(t, d1["tally"], pid, ids, 1, 1, false); len(counts) != len(ids) || counts[ids[1]] != 1 {
			t.Fatalf("first answer's tally %v", d1["tally"])
		}
		e.advance(3 * time.Second) // a replay must not take a new voted_at
		again := e.request("POST", "/v1/polls/"+pid+"/vote", u.Token, body, "Idempotency-Key", "vote-key-1")
		d2 := e.must(201, again)
		if again.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replay without Idempotent-Replayed: true: %v", again.Header)
		}
		// The record keeps neither the choice nor the time: the replay says null for both.
		if d2["voted_at"] != nil || d2["option_id"] != nil || d2["poll_id"] != pid {
			t.Fatalf("replay %v, first %v", d2, d1)
		}
		// A replay carrying another option_id must not claim that option either.
		other := e.must(201, e.request("POST", "/v1/polls/"+pid+"/vote", u.Token, map[string]any{"option_id": ids[2]},
			"Idempotency-Key", "vote-key-1"))
		if other["option_id"] != nil {
			t.Fatalf("a replay with another option_id claims %v", other["option_id"])
		}
		if counts := checkTally(t, d2["tally"], pid, ids, 1, 1, false); len(counts) != len(ids) {
			t.Fatalf("replayed tally %v", d2["tally"])
		}

		// Only one ballot counted.
		r := e.must(200, e.request("GET", "/v1/polls/"+pid+"/results", u.Token, nil))
		if num(t, r["total_votes"]) != 1 {
			t.Fatalf("idempotent retry counted twice: %v", r)
		}
		// Without the key the same voter is refused; with a new key too.
		e.fail(409, "ALREADY_VOTED", e.request("POST", "/v1/polls/"+pid+"/vote", u.Token, body))
		e.fail(409, "ALREADY_VOTED", e.request("POST", "/v1/polls/"+pid+"/vote", u.Token, body, "Idempotency-Key", "vote-key-2"))
		// Keys belong to one user: another member's identical key is a fresh vote.
		d3 := e.must(201, e.request("POST", "/v1/polls/"+pid+"/vote", c.Members[1].Token, map[string]any{"option_id": ids[2]},
			"Idempotency-Key", "vote-key-1"))
		checkTally(t, d3["tally"], pid, ids, 2, 2, false)
		// The same key for another poll is a conflict, not a vote.
		p2 := e.newPoll(c)
		p2IDs, _ := options(p2)
		r2 := e.request("POST", "/v1/polls/"+p2["id"].(string)+"/vote", u.Token, map[string]any{"option_id": p2IDs[0]}, "Idempotency-Key", "vote-key-1")
		e.fail(409, "ALREADY_EXISTS", r2)
	})
}

// TestConcurrentDoubleVote sends the same ballot many times at once: one counts.
func TestConcurrentDoubleVote(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		c := e.newCircle(3)
		poll := e.newPoll(c)
		pid := poll["id"].(string)
		ids, _ := options(poll)
		const n = 8
		var wg sync.WaitGroup
		results := make([]resp, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				results[i], errs[i] = e.send("POST", "/v1/polls/"+pid+"/vote", c.Members[0].Token, map[string]any{"option_id": ids[i%2]})
			})
		}
		wg.Wait()
		created := 0
		for i, r := range results {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			switch r.Status {
			case 201:
				created++
			default:
				checkError(t, 409, "ALREADY_VOTED", r)
			}
		}
		if created != 1 {
			t.Fatalf("%d votes accepted, want 1", created)
		}
		if g := e.must(200, e.request("GET", "/v1/polls/"+pid, c.Members[1].Token, nil)); num(t, g["total_votes"]) != 1 {
			t.Fatalf("total_votes %v", g["total_votes"])
		}

		// The same retry sent several times at once with one Idempotency-Key: one vote, and
		// every answer is that vote's.
		voter := c.Members[1]
		for i := range n {
			wg.Go(func() {
				results[i], errs[i] = e.send("POST", "/v1/polls/"+pid+"/vote", voter.Token, map[string]any{"option_id": ids[1]},
					"Idempotency-Key", "retry-storm")
			})
		}
		wg.Wait()
		fresh := 0
		for i, r := range results {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if r.Status != 201 {
				t.Fatalf("retry %d: %d %s", i, r.Status, r.Raw)
			}
			if r.Header.Get("Idempotent-Replayed") != "true" {
				fresh++
			}
			if replay := r.Header.Get("Idempotent-Replayed") == "true"; replay != (r.Data()["option_id"] == nil) ||
				replay != (r.Data()["voted_at"] == nil) {
				t.Fatalf("answer %d (replay %v) option_id %v voted_at %v", i, replay, r.Data()["option_id"], r.Data()["voted_at"])
			}
		}
		if fresh != 1 {
			t.Fatalf("%d answers not marked as replays, want 1", fresh)
		}
		if g := e.must(200, e.request("GET", "/v1/polls/"+pid, c.Members[2].Token, nil)); num(t, g["total_votes"]) != 2 {
			t.Fatalf("total_votes %v after the retry storm", g["total_votes"])
		}
	})
}

// TestReleasedTally: with TALLY_RELEASE_BATCH=3 nothing moves until the third vote.
func TestReleasedTally(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		c := e.newCircle(5)
		poll := e.newPoll(c)
		pid := poll["id"].(string)
		ids, _ := options(poll)
		viewer := c.Members[4]

		checkHidden := func(step string) {
			t.Helper()
			g := e.must(200, e.request("GET", "/v1/polls/"+pid, viewer.Token, nil))
			if num(t, g["version"]) != 0 || num(t, g["total_votes"]) != 0 {
				t.Fatalf("%s: poll shows %v", step, g)
			}
			for _, o := range list(t, g["options"]) {
				if num(t, o["vote_count"]) != 0 {
					t.Fatalf("%s: option count leaked: %v", step, g["options"])
				}
			}
			r := e.must(200, e.request("GET", "/v1/polls/"+pid+"/results", viewer.Token, nil))
			if num(t, r["version"]) != 0 || num(t, r["total_votes"]) != 0 || r["winner"] != nil {
				t.Fatalf("%s: results show %v", step, r)
			}
			for _, x := range list(t, r["results"]) {
				if num(t, x["vote_count"]) != 0 || num(t, x["percentage"]) != 0 {
					t.Fatalf("%s: result leaked: %v", step, r["results"])
				}
			}
			l := e.must(200, e.request("GET", "/v1/polls", viewer.Token, nil))
			if p := list(t, l["polls"])[0]; num(t, p["total_votes"]) != 0 || num(t, p["version"]) != 0 {
				t.Fatalf("%s: list shows %v", step, p)
			}
		}

		d := e.vote(c.Members[0], pid, ids[0])
		checkTally(t, d["tally"], pid, ids, 0, 0, false)
		checkHidden("after 1 vote")
		d = e.vote(c.Members[2], pid, ids[0])
		checkTally(t, d["tally"], pid, ids, 0, 0, false)
		checkHidden("after 2 votes")
		// The voter sees they voted, but not the count.
		if g := e.must(200, e.request("GET", "/v1/polls/"+pid, c.Members[2].Token, nil)); g["user_voted"] != true || num(t, g["total_votes"]) != 0 {
			t.Fatalf("voter's view %v", g)
		}

		d = e.vote(c.Members[3], pid, ids[1])
		counts := checkTally(t, d["tally"], pid, ids, 1, 3, false)
		if counts[ids[0]] != 2 || counts[ids[1]] != 1 {
			t.Fatalf("released counts %v", counts)
		}
		g := e.must(200, e.request("GET", "/v1/polls/"+pid, viewer.Token, nil))
		if num(t, g["version"]) != 1 || num(t, g["total_votes"]) != 3 || num(t, list(t, g["options"])[0]["vote_count"]) != 2 {
			t.Fatalf("poll after release %v", g)
		}
		// The fourth vote is held back again.
		d = e.vote(c.Members[1], pid, ids[2])
		checkTally(t, d["tally"], pid, ids, 1, 3, false)
		r := e.must(200, e.request("GET", "/v1/polls/"+pid+"/results", viewer.Token, nil))
		if num(t, r["version"]) != 1 || num(t, r["total_votes"]) != 3 {
			t.Fatalf("results before close %v", r)
		}
		// At close the exact final tally is released.
		e.advance(2 * time.Hour)
		g = e.must(200, e.request("GET", "/v1/polls/"+pid, viewer.Token, nil))
		if g["is_closed"] != true || num(t, g["version"]) != 2 || num(t, g["total_votes"]) != 4 || num(t, list(t, g["options"])[2]["vote_count"]) != 1 {
			t.Fatalf("closed poll %v", g)
		}
	}, batch(3))
}

func TestResults(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		c := e.newCircle(5)
		poll := e.newPoll(c)
		pid := poll["id"].(string)
		ids, _ := options(poll) // options are m1, m2, m3, m4

		empty := e.must(200, e.request("GET", "/v1/polls/"+pid+"/results", c.Members[1].Token, nil))
		if num(t, empty["total_votes"]) != 0 || empty["winner"] != nil || len(list(t, empty["results"])) != 4 ||
			empty["poll_id"] != pid || empty["question_text"] != poll["question_text"] || empty["is_closed"] != false {
			t.Fatalf("empty results %v", empty)
		}

		// m1: 2 votes, m2: 2 votes, m3: 1 vote, m4: none.
		e.vote(c.Members[0], pid, ids[0])
		e.vote(c.Members[2], pid, ids[0])
		e.vote(c.Members[1], pid, ids[1])
		e.vote(c.Members[3], pid, ids[1])
		e.vote(c.Members[4], pid, ids[2])

		r := e.must(200, e.request("GET", "/v1/polls/"+pid+"/results", c.Members[1].Token, nil))
		if num(t, r["total_votes"]) != 5 || num(t, r["version"]) != 5 || r["winner"] != nil {
			t.Fatalf("results %v", r)
		}
		rs := list(t, r["results"])
		wantRank := map[string]float64{ids[0]: 1, ids[1]: 1, ids[2]: 3, ids[3]: 4}
		wantPct := map[string]float64{ids[0]: 40, ids[1]: 40, ids[2]: 20, ids[3]: 0}
		wantNick := map[string]string{ids[0]: "m1", ids[1]: "m2", ids[2]: "m3", ids[3]: "m4"}
		for i, x := range rs {
			id := x["option_id"].(string)
			if num(t, x["rank"]) != wantRank[id] || math.Abs(num(t, x["percentage"])-wantPct[id]) > 0.05 || x["member_nickname"] != wantNick[id] {
				t.Fatalf("result %d: %v", i, x)
			}
			if i > 0 && num(t, x["vote_count"]) > num(t, rs[i-1]["vote_count"]) {
				t.Fatalf("results not ordered by votes: %v", rs)
			}
		}
		checkPercentages(t, rs)

		// Thirds: the shares still add up to 100.
		p2 := e.newPoll(c)
		p2id := p2["id"].(string)
		o2, _ := options(p2)
		e.vote(c.Members[0], p2id, o2[0])
		e.vote(c.Members[1], p2id, o2[1])
		e.vote(c.Members[2], p2id, o2[2])
		r2 := e.must(200, e.request("GET", "/v1/polls/"+p2id+"/results", c.Members[0].Token, nil))
		rs2 := list(t, r2["results"])
		checkPercentages(t, rs2)
		for _, x := range rs2[:3] {
			if num(t, x["rank"]) != 1 {
				t.Fatalf("three-way tie: %v", rs2)
			}
		}
		if r2["winner"] != nil {
			t.Fatalf("winner of a tie: %v", r2["winner"])
		}

		// A sole leader is the winner.
		p3 := e.newPoll(c)
		p3id := p3["id"].(string)
		o3, _ := options(p3)
		e.vote(c.Members[0], p3id, o3[3])
		e.vote(c.Members[1], p3id, o3[3])
		e.vote(c.Members[2], p3id, o3[0])
		r3 := e.must(200, e.request("GET", "/v1/polls/"+p3id+"/results", c.Members[0].Token, nil))
		w, _ := r3["winner"].(map[string]any)
		if w == nil || w["option_id"] != o3[3] || w["member_nickname"] != "m4" || num(t, w["vote_count"]) != 2 || num(t, w["rank"]) != 1 {
			t.Fatalf("winner %v", r3["winner"])
		}
		checkPercentages(t, list(t, r3["results"]))
	}, noPollLimits())
}

func checkPercentages(t *testing.T, rs []map[string]any) {
	t.Helper()
	sum := 0.0
	for _, x := range rs {
		sum += num(t, x["percentage"])
	}
	if math.Abs(sum-100) > 0.1 {
		t.Fatalf("percentages add up to %v: %v", sum, rs)
	}
}

// TestRejoinedMember: a member who left and rejoined keeps the ballot already cast, and the
// option that names their earlier membership is still their own.
func TestRejoinedMember(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		c := e.newCircle(4)
		poll := e.newPoll(c)
		pid := poll["id"].(string)
		ids, _ := options(poll) // m1, m2, m3
		voter, self := c.Members[3], c.Members[2]
		e.vote(voter, pid, ids[0])
		e.must(200, e.request("POST", "/v1/circles/"+c.ID+"/leave", voter.Token, nil))
		e.fail(403, "NOT_CIRCLE_MEMBER", e.request("POST", "/v1/polls/"+pid+"/vote", voter.Token, map[string]any{"option_id": ids[1]}))
		e.must(200, e.request("POST", "/v1/circles/join", voter.Token, map[string]any{"invite_code": c.Code, "nickname": "back"}))
		e.fail(409, "ALREADY_VOTED", e.request("POST", "/v1/polls/"+pid+"/vote", voter.Token, map[string]any{"option_id": ids[1]}))
		if g := e.must(200, e.request("GET", "/v1/polls/"+pid, voter.Token, nil)); g["user_voted"] != true {
			t.Fatalf("rejoined voter: user_voted %v", g["user_voted"])
		}

		e.must(200, e.request("POST", "/v1/circles/"+c.ID+"/leave", self.Token, nil))
		e.must(200, e.request("POST", "/v1/circles/join", self.Token, map[string]any{"invite_code": c.Code, "nickname": "m2-again"}))
		g := e.must(200, e.request("GET", "/v1/polls/"+pid, self.Token, nil))
		for i, o := range list(t, g["options"]) {
			if o["is_self"] != (i == 1) {
				t.Fatalf("rejoined member's own option not marked: %v", g["options"])
			}
		}
		e.fail(400, "SELF_VOTE", e.request("POST", "/v1/polls/"+pid+"/vote", self.Token, map[string]any{"option_id": ids[1]}))
		// The voters of a poll are its members at creation: the new membership is not one.
		e.fail(403, "NOT_POLL_VOTER", e.request("POST", "/v1/polls/"+pid+"/vote", self.Token, map[string]any{"option_id": ids[2]}))
	})
}

// TestOnePersonOneBallotAcrossAccounts: a member votes, deletes the account, logs in again with
// the same device (a new user), rejoins and tries again: refused, and the poll still counts one
// ballot per person.
func TestOnePersonOneBallotAcrossAccounts(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		c := e.newCircle(4)
		poll := e.newPoll(c)
		pid := poll["id"].(string)
		ids, _ := options(poll) // m1, m2, m3
		for _, m := range []int{0, 1, 2} {
			e.vote(c.Members[m], pid, ids[(m+1)%3])
		}
		leaver := c.Members[3]
		e.vote(leaver, pid, ids[0])
		e.must(200, e.request("DELETE", "/v1/users/me", leaver.Token, nil))
		again := e.loginDevice(leaver.Device)
		e.must(200, e.request("POST", "/v1/circles/join", again.Token, map[string]any{"invite_code": c.Code, "nickname": "phoenix"}))
		e.fail(403, "NOT_POLL_VOTER", e.request("POST", "/v1/polls/"+pid+"/vote", again.Token, map[string]any{"option_id": ids[0]}))
		g := e.must(200, e.request("GET", "/v1/polls/"+pid, c.Members[0].Token, nil))
		if num(t, g["total_votes"]) != 4 {
			t.Fatalf("total_votes %v, want the 4 ballots of 4 people", g["total_votes"])
		}
	})
}
