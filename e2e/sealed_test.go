package e2e_test

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"circly/internal/testdb"
	"circly/internal/testproc"
	"circly/internal/testredis"
)

// TestReplicaKilledBetweenSealingAndOpening: a vote on replica A completes a batch; its ballot
// is sealed and committed, and A dies (SIGKILL) while opening the batch, its half-done opening
// rolled back with it. No ballot is lost: replica B's opening job opens the batch, its watcher
// sees the tally, and the close counts every ballot cast.
func TestReplicaKilledBetweenSealingAndOpening(t *testing.T) {
	pg := testdb.PostgresSchemaURL(t)
	rd := testredis.New(t).URL()
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
	circleID := formCircle(t, B.URL, "Sealed", users)["id"].(string)
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

// sealedPoll makes a circle of four and a poll on base, and casts two votes that wait sealed
// (a batch is 3). It returns the poll id, its options and the users.
func sealedPoll(t *testing.T, base string) (string, []string, []user) {
	t.Helper()
	users := make([]user, 4)
	for i := range users {
		u, err := login(base, boxDevice(t, i))
		if err != nil {
			t.Fatal(err)
		}
		users[i] = u
	}
	c := formCircle(t, base, "Box", users)
	poll := must(t, 201, "POST", base+"/v1/polls", users[0].Token, map[string]any{
		"circle_id": c["id"], "template_id": firstTemplate(t, base, users[0].Token), "duration_hours": 1})
	pollID := poll["id"].(string)
	opts, _ := optionsOf(t, poll) // m1, m2, m3
	for _, v := range []struct{ voter, opt int }{{1, 1}, {2, 0}} {
		d := must(t, 201, "POST", base+"/v1/polls/"+pollID+"/vote", users[v.voter].Token, map[string]any{"option_id": opts[v.opt]})
		if num(d["tally"].(map[string]any)["version"]) != 0 {
			t.Fatalf("a vote below the batch released a tally: %v", d)
		}
	}
	return pollID, opts, users
}

func boxDevice(t *testing.T, i int) string { return fmt.Sprintf("box-%s-%d", t.Name(), i) }

// TestBallotKeyAcrossRestartsAndRollback: the key that sealed waiting ballots is needed to open
// them. A development service without secrets keeps its key in DATA_DIR, so its waiting ballots
// open after a restart; a service started with another key refuses to start; `migrate down`
// opens the waiting ballots before it drops the box.
func TestBallotKeyAcrossRestartsAndRollback(t *testing.T) {
	t.Run("embedded restart", func(t *testing.T) {
		vars := map[string]string{"DATA_DIR": t.TempDir(), "LOG_LEVEL": "warn"}
		p := startServer(t, "embedded", vars)
		pollID, opts, users := sealedPoll(t, p.URL)
		p.kill()
		p = startServer(t, "embedded-again", vars)
		voter, err := login(p.URL, boxDevice(t, 3)) // tokens do not survive a random SECRET_KEY
		if err != nil || voter.ID != users[3].ID {
			t.Fatalf("login again: %v %v", voter.ID, err)
		}
		d := must(t, 201, "POST", p.URL+"/v1/polls/"+pollID+"/vote", voter.Token, map[string]any{"option_id": opts[0]})
		if tl := d["tally"].(map[string]any); num(tl["version"]) != 1 || num(tl["total_votes"]) != 3 {
			t.Fatalf("the batch sealed before the restart did not open after it: %v", tl)
		}
	})

	t.Run("postgres key and rollback", func(t *testing.T) {
		pg := testdb.PostgresSchemaURL(t)
		vars := map[string]string{"DATABASE_URL": pg, "DATA_DIR": t.TempDir(), "LOG_LEVEL": "warn",
			"SECRET_KEY": "the-first-secret-key-0123456789abcdef", "AUTH_RATE_LIMIT": "0"}
		p := startServer(t, "first", vars)
		pollID, _, _ := sealedPoll(t, p.URL)
		p.kill()

		other := map[string]string{}
		for k, v := range vars {
			other[k] = v
		}
		other["SECRET_KEY"] = "another-secret-key-0123456789abcdef!!"
		other["PORT"] = fmt.Sprint(testproc.FreePort(t))
		res := runCmd(t, other, 60*time.Second, "serve")
		if res.Code == 0 || !hasLine(res.Stderr, "BALLOT_KEY") {
			t.Fatalf("serve with another key: exit %d, stderr:\n%s", res.Code, res.Stderr)
		}
		// The rollback under test is 00007's (sealed ballots): newer migrations go first.
		rollBackTo(t, vars, 7)
		res = runCmd(t, other, 60*time.Second, "migrate", "down")
		if res.Code == 0 {
			t.Fatalf("migrate down with another key dropped the box: %s", res.Stdout)
		}

		res = runCmd(t, vars, 60*time.Second, "migrate", "down")
		if res.Code != 0 || !strings.Contains(res.Stdout, "opened the waiting ballots of 1 polls") {
			t.Fatalf("migrate down: exit %d\nstdout:\n%s\nstderr:\n%s", res.Code, res.Stdout, res.Stderr)
		}
		db, err := sql.Open("pgx", pg)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var total, released int
		if err := db.QueryRow(`SELECT vote_total, released_total FROM polls WHERE id = $1`, pollID).Scan(&total, &released); err != nil {
			t.Fatal(err)
		}
		if total != 2 || released != 2 {
			t.Fatalf("after rollback: vote_total %d, released_total %d; want both 2", total, released)
		}
		if res := runCmd(t, vars, 60*time.Second, "migrate", "up"); res.Code != 0 {
			t.Fatalf("migrate up again: %s", res.Stderr)
		}
	})
}

// rollBackTo runs `migrate down` until the newest applied migration is version.
func rollBackTo(t *testing.T, vars map[string]string, version int) {
	t.Helper()
	for range 100 {
		newest := 0
		for _, line := range strings.Split(runCmd(t, vars, 60*time.Second, "migrate", "status").Stdout, "\n") {
			f := strings.Fields(line)
			if len(f) >= 3 && f[2] == "applied" {
				if v, err := strconv.Atoi(f[0]); err == nil && v > newest {
					newest = v
				}
			}
		}
		if newest <= version {
			return
		}
		if res := runCmd(t, vars, 60*time.Second, "migrate", "down"); res.Code != 0 {
			t.Fatalf("migrate down from %d: %s", newest, res.Stderr)
		}
	}
	t.Fatalf("could not roll back to %d", version)
}
