package e2e_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"circly/internal/testdb"
	"circly/internal/testpgbouncer"
	"circly/internal/testredis"
)

// pgbouncerExecMode is the pgx query mode the replicas use through PgBouncer 1.18 in transaction
// pooling: pgx's default (cache_statement) keeps named prepared statements on a server
// connection that the next transaction may not get; "exec" sends each query as an unnamed
// statement in one Parse/Bind/Execute/Sync round, which never outlives the transaction.
const pgbouncerExecMode = "default_query_exec_mode=exec"

// privateDatabase creates a database for this test on the shared PostgreSQL (dropped at the end)
// and returns its direct URL with the server's host and port.
func privateDatabase(t *testing.T) (direct, name, host string, port int) {
	t.Helper()
	base := testdb.PostgresURL(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	host = u.Hostname()
	if port, err = strconv.Atoi(u.Port()); err != nil {
		port = 5432
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	name = fmt.Sprintf("circly_pgb_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9)
	if _, err := admin.Exec(`CREATE DATABASE ` + name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`)
		_ = admin.Close()
	})
	u.Path = "/" + name
	return u.String(), name, host, port
}

// pooledDatabase is the deployment's database path: a private database migrated directly, and
// a real pgbouncer in transaction pooling with poolSize server connections in front of it. It
// returns the URL replicas use (with AUTO_MIGRATE=false), the database's name and the bouncer.
func pooledDatabase(t *testing.T, poolSize int) (string, string, *testpgbouncer.Bouncer) {
	t.Helper()
	direct, dbName, pgHost, pgPort := privateDatabase(t)
	if res := runCmd(t, map[string]string{"DATABASE_URL": direct, "DATA_DIR": t.TempDir()}, 60*time.Second,
		"migrate", "up"); res.Code != 0 {
		t.Fatalf("migrate up (direct): exit %d\n%s", res.Code, res.Stderr)
	}
	bouncer := testpgbouncer.New(t, pgHost, pgPort, testpgbouncer.Options{PoolSize: poolSize})
	return bouncer.URL(dbName, pgbouncerExecMode), dbName, bouncer
}

// TestThroughPgBouncer: migrations run directly against PostgreSQL; two replicas with
// AUTO_MIGRATE=false reach it only through a real pgbouncer in transaction pooling mode with
// fewer server connections than the replicas' pools. Login, circles, joins, concurrent votes
// through both replicas (exact results), the live tally over WebSocket and the close job work.
func TestThroughPgBouncer(t *testing.T) {
	const poolSize = 4
	pooled, dbName, bouncer := pooledDatabase(t, poolSize)
	rd := testredis.New(t).URL()
	secret := "e2e-pgbouncer-secret-0123456789abcdef"
	env := func() map[string]string {
		e := distributedEnv(t, pooled, rd, secret)
		e["AUTO_MIGRATE"] = "false"
		e["DB_MAX_OPEN_CONNS"] = "16" // more than the bouncer's server pool: it multiplexes
		e["POLL_MIN_DURATION"] = "2s"
		e["LOG_FORMAT"] = "json"
		e["LOG_LEVEL"] = "info"
		return e
	}
	A := startProc(t, "replica-A", env())
	B := startProc(t, "replica-B", env())
	A.waitHealthy(60 * time.Second)
	B.waitHealthy(60 * time.Second)
	servers := []string{A.URL, B.URL}

	const members = 16
	users := loginMany(t, "pgb", members, servers...)
	circle := must(t, 201, "POST", A.URL+"/v1/circles", users[0].Token,
		map[string]any{"name": "Pooled", "max_members": 25, "nickname": "m00"})
	circleID := circle["id"].(string)
	for i := 1; i < members; i++ {
		d := must(t, 200, "POST", servers[i%2]+"/v1/circles/join", users[i].Token,
			map[string]any{"invite_code": circle["invite_code"], "nickname": fmt.Sprintf("m%02d", i)})
		users[i].MemberID = d["membership"].(map[string]any)["id"].(string)
	}
	poll := must(t, 201, "POST", B.URL+"/v1/polls", users[0].Token, map[string]any{
		"circle_id": circleID, "template_id": firstTemplate(t, A.URL, users[0].Token), "duration_hours": 1})
	pollID := poll["id"].(string)
	opts, _ := optionsOf(t, poll)
	pollCh := "poll:" + pollID
	watcher := dialLive(t, B.URL, users[1].Token)
	if snap := watcher.subscribe(1, pollCh); num(snap["version"]) != 0 {
		t.Fatalf("snapshot %v", snap)
	}

	// Every member but the creator votes twice at once, once on each replica: exactly one counts.
	type attempt struct {
		voter, status int
		option, code  string
		err           error
	}
	var attempts []*attempt
	for i := 1; i < members; i++ {
		attempts = append(attempts, &attempt{voter: i, option: opts[i%len(opts)]},
			&attempt{voter: i, option: opts[(i+1)%len(opts)]})
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for n, a := range attempts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r, err := call("POST", servers[n%2]+"/v1/polls/"+pollID+"/vote", users[a.voter].Token,
				map[string]any{"option_id": a.option})
			a.status, a.code, a.err = r.Status, r.Code(), err
		}()
	}
	close(start)
	wg.Wait()
	want := map[string]int{}
	accepted := map[int]int{}
	for _, a := range attempts {
		switch {
		case a.err != nil:
			t.Errorf("voter %d: %v", a.voter, a.err)
		case a.status == http.StatusCreated:
			accepted[a.voter]++
			want[a.option]++
		case a.status == http.StatusConflict && a.code == "ALREADY_VOTED":
		default:
			t.Errorf("voter %d: status %d code %q, want 201 or 409 ALREADY_VOTED", a.voter, a.status, a.code)
		}
	}
	for i := 1; i < members; i++ {
		if accepted[i] != 1 {
			t.Errorf("voter %d: %d accepted votes, want 1", i, accepted[i])
		}
	}
	if tally := watcher.untilVersion(pollCh, members-1, 10*time.Second); num(tally["total_votes"]) != members-1 {
		t.Errorf("live tally %v, want %d votes", tally, members-1)
	}
	for _, srv := range servers {
		r := must(t, 200, "GET", srv+"/v1/polls/"+pollID+"/results", users[2].Token, nil)
		if num(r["total_votes"]) != members-1 {
			t.Errorf("%s: total_votes %v, want %d", srv, r["total_votes"], members-1)
		}
		for _, x := range r["results"].([]any) {
			res := x.(map[string]any)
			if c := num(res["vote_count"]); c != want[res["option_id"].(string)] {
				t.Errorf("%s: option %s has %d votes, want %d", srv, res["option_id"], c, want[res["option_id"].(string)])
			}
		}
	}

	// The close job (on either replica) closes a poll whose deadline passes.
	deadline := time.Now().Add(2500 * time.Millisecond)
	short := must(t, 201, "POST", A.URL+"/v1/polls", users[3].Token, map[string]any{"circle_id": circleID,
		"template_id": firstTemplate(t, A.URL, users[3].Token), "deadline": deadline.UTC().Format(time.RFC3339Nano)})
	shortID := short["id"].(string)
	sopts, _ := optionsOf(t, short)
	must(t, 201, "POST", B.URL+"/v1/polls/"+shortID+"/vote", users[1].Token, map[string]any{"option_id": sopts[0]})
	closed := false
	for limit := time.Now().Add(20 * time.Second); !closed && time.Now().Before(limit); time.Sleep(100 * time.Millisecond) {
		closed = closeLogged(A.stderr.String()) || closeLogged(B.stderr.String())
	}
	if !closed {
		t.Fatal("the close job never closed the poll")
	}
	r, err := call("POST", B.URL+"/v1/polls/"+shortID+"/vote", users[2].Token, map[string]any{"option_id": sopts[0]})
	if err != nil || r.Status != 409 || r.Code() != "POLL_CLOSED" {
		t.Fatalf("vote after close: %d %s %v, want 409 POLL_CLOSED", r.Status, r.Code(), err)
	}

	// All of it went through the bouncer, on at most poolSize server connections.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pools, err := bouncer.Admin(ctx, "SHOW POOLS")
	if err != nil {
		t.Fatalf("SHOW POOLS: %v", err)
	}
	stats, err := bouncer.Admin(ctx, "SHOW STATS")
	if err != nil {
		t.Fatalf("SHOW STATS: %v", err)
	}
	found := false
	for _, s := range stats {
		if s["database"] == dbName {
			found = true
			x, _ := strconv.Atoi(s["total_xact_count"])
			t.Logf("pgbouncer: %s transactions, %s queries for %s", s["total_xact_count"], s["total_query_count"], dbName)
			if x < members {
				t.Errorf("pgbouncer saw %d transactions, want the replicas' traffic", x)
			}
		}
	}
	if !found {
		t.Errorf("pgbouncer has no stats for %s: %v", dbName, stats)
	}
	for _, p := range pools {
		if p["database"] != dbName {
			continue
		}
		active, _ := strconv.Atoi(p["sv_active"])
		idle, _ := strconv.Atoi(p["sv_idle"])
		used, _ := strconv.Atoi(p["sv_used"])
		if n := active + idle + used; n > poolSize {
			t.Errorf("pgbouncer holds %d server connections, want at most %d", n, poolSize)
		}
		t.Logf("pgbouncer pool: %v", p)
	}
}
