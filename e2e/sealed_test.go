package e2e_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"circly/internal/testdb"
)

// TestReplicaKilledBetweenSealingAndOpening: a vote on replica A completes a batch; its ballot
// is sealed and committed, and A dies (SIGKILL) while opening the batch, its half-done opening
// rolled back with it. No ballot is lost: replica B's opening job opens the batch, its watcher
// sees the tally, and the close counts every ballot cast.
func TestReplicaKilledBetweenSealingAndOpening(t *testing.T) {
	pg := testdb.PostgresSchemaURL(t)
	rd := testdb.RedisURL(t)
	secret := "e2e-sealed-secret-0123456789abcdef-" + t.Name()
	envA, envB := distributedEnv(t, pg, rd, secret), distributedEnv(t, pg, rd, secret)
	envA["TALLY_RELEASE_BATCH"], envB["TALLY_RELEASE_BATCH"] = "3", "3"
	A := startProc(t, "replica-A", envA)
	B := startProc(t, "replica-B", envB)
	A.waitHealthy(90 * time.Second)
	B.waitHealthy(90 * time.Second)
	db, err := sql.Open("pgx", pg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	const n = 6
	users := loginMany(t, "sealed", n, A.URL, B.URL)
	circle := must(t, 201, "POST", B.URL+"/v1/circles", users[0].Token, map[string]any{"name": "Sealed", "nickname": "m0"})
	circleID := circle["id"].(string)
	for i := 1; i < n; i++ {
		must(t, 200, "POST", B.URL+"/v1/circles/join", users[i].Token,
			map[string]any{"invite_code": circle["invite_code"], "nickname": fmt.Sprintf("m%d", i)})
	}
	poll := must(t, 201, "POST", B.URL+"/v1/polls", users[0].Token, map[string]any{
		"circle_id": circleID, "template_id": firstTemplate(t, B.URL, users[0].Token), "duration_hours": 1})
	pollID, pollCh := poll["id"].(string), "poll:"+poll["id"].(string)
	opts, _ := optionsOf(t, poll) // m1..m5
	watcher := dialLive(t, B.URL, users[0].Token)
	watcher.subscribe(1, pollCh)

	// Two ballots wait in the box (a batch is 3).
	must(t, 201, "POST", B.URL+"/v1/polls/"+pollID+"/vote", users[1].Token, map[string]any{"option_id": opts[1]})
	must(t, 201, "POST", B.URL+"/v1/polls/"+pollID+"/vote", users[2].Token, map[string]any{"option_id": opts[0]})

	// Hold the waiting ballots' rows, so that A's opening of the batch its vote completes stops
	// at its first DELETE, after the vote itself committed.
	ctx := context.Background()
	hold, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = hold.Rollback() }()
	if _, err := hold.Exec(`SELECT 1 FROM ballots WHERE poll_id = $1 FOR UPDATE`, pollID); err != nil {
		t.Fatal(err)
	}
	go func() {
		_, _ = call("POST", A.URL+"/v1/polls/"+pollID+"/vote", users[3].Token, map[string]any{"option_id": opts[0]})
	}()
	var opener int
	deadline := time.Now().Add(15 * time.Second)
	for opener == 0 {
		if time.Now().After(deadline) {
			t.Fatal("replica A never started opening the batch")
		}
		time.Sleep(20 * time.Millisecond)
		_ = db.QueryRow(`SELECT pid FROM pg_stat_activity WHERE query LIKE '%circly_open(%' AND wait_event_type = 'Lock'
			AND pid <> pg_backend_pid()`).Scan(&opener)
	}
	A.kill()
	var terminated bool
	if err := db.QueryRow(`SELECT pg_terminate_backend($1)`, opener).Scan(&terminated); err != nil || !terminated {
		t.Fatalf("terminate A's opening backend: %v %v", terminated, err)
	}
	_ = hold.Rollback()

	var participants, waiting int
	if err := db.QueryRow(`SELECT (SELECT count(*) FROM poll_participants WHERE poll_id = $1),
		(SELECT count(*) FROM ballots WHERE poll_id = $1)`, pollID).Scan(&participants, &waiting); err != nil {
		t.Fatal(err)
	}
	if participants != 3 || waiting != 3 {
		t.Fatalf("after the crash: %d participants, %d sealed ballots waiting; want 3 and 3", participants, waiting)
	}

	// B's opening job (every 5 s) opens the batch; its watcher sees it.
	got := watcher.untilVersion(pollCh, 1, 20*time.Second)
	if num(got["total_votes"]) != 3 {
		t.Fatalf("tally after the crash %v, want 3 votes", got)
	}
	// The voter whose request died retries: the ballot is already counted.
	r, err := call("POST", B.URL+"/v1/polls/"+pollID+"/vote", users[3].Token, map[string]any{"option_id": opts[0]})
	if err != nil || r.Code() != "ALREADY_VOTED" {
		t.Fatalf("retry of the interrupted vote: %v %s", err, r.Raw)
	}
	// One more ballot waits; the close opens it with the rest: the final tally is every ballot.
	must(t, 201, "POST", B.URL+"/v1/polls/"+pollID+"/vote", users[4].Token, map[string]any{"option_id": opts[0]})
	if _, err := db.Exec(`UPDATE polls SET deadline = now() WHERE id = $1`, pollID); err != nil {
		t.Fatal(err)
	}
	var final map[string]any
	for final == nil {
		f, err := watcher.next(20 * time.Second)
		if err != nil {
			t.Fatalf("no poll_closed frame: %v", err)
		}
		if f["type"] == "poll_closed" {
			final = f["data"].(map[string]any)
		}
	}
	res := must(t, 200, "GET", B.URL+"/v1/polls/"+pollID+"/results", users[0].Token, nil)
	if num(final["total_votes"]) != 4 || num(res["total_votes"]) != 4 || res["is_closed"] != true {
		t.Fatalf("final tally %v, results %v; want 4 votes, closed", final, res)
	}
	counts := map[string]int{}
	for _, x := range res["results"].([]any) {
		m := x.(map[string]any)
		counts[m["option_id"].(string)] = num(m["vote_count"])
	}
	if counts[opts[0]] != 3 || counts[opts[1]] != 1 {
		t.Fatalf("results %v: want 3 for m1 and 1 for m2", counts)
	}
}
