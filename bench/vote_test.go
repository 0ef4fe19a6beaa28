// Package bench_test measures Circly's hot paths end to end: a real server on a real TCP
// listener, backed by PostgreSQL.
//
//	go test ./bench/ -run '^$' -bench BenchmarkVoteHTTP -benchtime 30000x -count 3
//
// The benchmark (and the smoke test that keeps the harness compiling and working in CI) skip
// when PostgreSQL is unreachable, like every other PostgreSQL test (see internal/testdb).
//
// Knobs (environment):
//
//	CIRCLY_BENCH_DB_CONNS  PostgreSQL pool size of the server (default 32)
//	CIRCLY_BENCH_VOTERS    concurrent voters (default 32)
package bench_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"circly"
	"circly/app"
	"circly/auth"
	"circly/config"
	"circly/internal/testdb"
	"circly/internal/testkit"
	"circly/server"
	"circly/sqlstore"

	"go.uber.org/zap"
)

const (
	membersPerCircle  = 30 // creator + 29 members, so every poll has 29 options and 30 ballots
	maxPollsPerCircle = 10
	defaultVoters     = 32
	defaultDBConns    = 32
	benchSecret       = "bench-secret-key-0123456789abcdef0123456789"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// voteJob is one ballot that the server must accept with 201: a unique (member, poll) pair.
type voteJob struct {
	path string
	auth string
	body []byte
	// the same ballot in store terms (for experiments that bypass HTTP)
	userID, memberID, pollID, optionID string
}

// voteHarness is a running server with enough open polls and members for its jobs.
type voteHarness struct {
	baseURL string
	client  *http.Client
	db      *sqlstore.DB
	appName string          // application_name of the pool's connections
	store   *sqlstore.Store // for experiments that bypass HTTP
	jobs    []voteJob
}

// newVoteHarness starts a server on a fresh PostgreSQL schema and sets up (through the store,
// not over HTTP) circles of 30 members with open polls, so that there are `votes` ballots to cast
// spread over many polls, in random order.
func newVoteHarness(tb testing.TB, votes int) *voteHarness {
	tb.Helper()
	ctx := context.Background()
	dsn, appName := withAppName(tb, testdb.PostgresSchemaURL(tb))
	conns := envInt("CIRCLY_BENCH_DB_CONNS", defaultDBConns)
	batch := envInt("CIRCLY_BENCH_BATCH", 1) // TALLY_RELEASE_BATCH: 1 releases (and opens) every vote
	db, err := sqlstore.Open(sqlstore.OpenOptions{PostgresURL: dsn, MaxOpenConns: conns, Logger: zap.NewNop()})
	if err != nil {
		tb.Fatalf("open postgres: %v", err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	if _, err := db.MigrateUp(ctx); err != nil {
		tb.Fatalf("migrate: %v", err)
	}
	env := map[string]string{
		"DATA_DIR":            tb.TempDir(),
		"SECRET_KEY":          benchSecret,
		"RATE_LIMIT_REQUESTS": "0",
		"AUTH_RATE_LIMIT":     "0",
		"TALLY_RELEASE_BATCH": strconv.Itoa(batch),
		"POLL_OPEN_LIMIT":     "0",
		"POLL_DAILY_LIMIT":    "0",
		"DB_MAX_OPEN_CONNS":   strconv.Itoa(conns),
	}
	cfg, err := config.FromLookup(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		tb.Fatalf("config: %v", err)
	}
	policy := circly.DefaultPolicy()
	policy.TallyReleaseBatch = batch
	policy.PollOpenLimit = 0
	policy.PollDailyLimit = 0
	store := sqlstore.NewStore(db, policy, testkit.Ballots())
	tokens := auth.NewTokens(benchSecret, 24*time.Hour)
	srv := server.New(server.Deps{Config: cfg, App: app.New(store, nil, nil), Tokens: tokens, Log: zap.NewNop(), DB: db, Version: "bench"})
	ts := httptest.NewServer(srv.Handler())
	tb.Cleanup(ts.Close)

	tpls, _, err := store.ListTemplates(ctx, "", circly.Page{Limit: 1})
	if err != nil || len(tpls) == 0 {
		tb.Fatalf("no question template (%v)", err)
	}
	pollsPerCircle := min(maxPollsPerCircle, (votes+membersPerCircle-1)/membersPerCircle)
	circles := (votes + membersPerCircle*pollsPerCircle - 1) / (membersPerCircle * pollsPerCircle)

	perCircle := make([][]voteJob, circles)
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		setupErr error
		next     atomic.Int64
	)
	for range min(circles, 16) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= circles {
					return
				}
				jobs, err := setupCircle(ctx, db, store, tokens, tpls[0].ID, i, pollsPerCircle)
				if err != nil {
					errOnce.Do(func() { setupErr = err })
					return
				}
				perCircle[i] = jobs
			}
		}()
	}
	wg.Wait()
	if setupErr != nil {
		tb.Fatalf("set up circles: %v", setupErr)
	}
	// The test server runs with autovacuum off, so nothing would ever ANALYZE these tables and
	// the planner would pick plans no production database (autovacuum on) would use.
	if err := db.Gorm.Exec(`ANALYZE`).Error; err != nil {
		tb.Fatalf("analyze: %v", err)
	}
	var jobs []voteJob
	for _, js := range perCircle {
		jobs = append(jobs, js...)
	}
	// Random order spreads the 32 voters over many polls at once, as real traffic would.
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(jobs), func(i, j int) { jobs[i], jobs[j] = jobs[j], jobs[i] })
	jobs = jobs[:votes]

	voters := envInt("CIRCLY_BENCH_VOTERS", defaultVoters)
	client := &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        2 * voters,
			MaxIdleConnsPerHost: 2 * voters,
			IdleConnTimeout:     time.Minute,
		},
	}
	tb.Cleanup(client.CloseIdleConnections)
	return &voteHarness{baseURL: ts.URL, client: client, db: db, appName: appName, store: store, jobs: jobs}
}

// withAppName tags the pool's connections so their backends can be told from other tests'.
func withAppName(tb testing.TB, dsn string) (string, string) {
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	name := fmt.Sprintf("circly-bench-%d-%d", os.Getpid(), rand.Uint32())
	q := u.Query()
	q.Set("application_name", name)
	u.RawQuery = q.Encode()
	return u.String(), name
}

// backends lists the PostgreSQL backend pids serving this harness's pool.
func (h *voteHarness) backends() map[int]bool {
	var pids []int
	_ = h.db.Gorm.Raw(`SELECT pid FROM pg_stat_activity WHERE application_name = ?`, h.appName).Scan(&pids).Error
	set := map[int]bool{}
	for _, p := range pids {
		set[p] = true
	}
	return set
}

// setupCircle creates circle number i with 30 members and its polls, and returns one vote job
// per (member, poll): the creator votes for anyone, every other member for someone else.
func setupCircle(ctx context.Context, db *sqlstore.DB, store *sqlstore.Store, tokens *auth.Tokens, templateID string, i, polls int) ([]voteJob, error) {
	users := make([]string, membersPerCircle)
	bearer := make([]string, membersPerCircle)
	for j := range users {
		u, err := store.DeviceLogin(ctx, fmt.Sprintf("bench-c%d-m%d", i, j), "ios", nil)
		if err != nil {
			return nil, fmt.Errorf("device login: %w", err)
		}
		tok, err := tokens.Issue(u.ID)
		if err != nil {
			return nil, err
		}
		users[j], bearer[j] = u.ID, "Bearer "+tok
	}
	c, err := store.CreateCircle(ctx, users[0], fmt.Sprintf("bench circle %d", i), 50, "m0")
	if err != nil {
		return nil, fmt.Errorf("create circle: %w", err)
	}
	if c.InviteCode == nil {
		return nil, fmt.Errorf("circle %s has no invite code", c.ID)
	}
	memberOf := make([]string, membersPerCircle) // membership id per user index
	if err := db.Gorm.Raw(`SELECT id FROM circle_members WHERE circle_id = ? AND user_id = ?`, c.ID, users[0]).Scan(&memberOf[0]).Error; err != nil {
		return nil, fmt.Errorf("creator membership: %w", err)
	}
	for j := 1; j < membersPerCircle; j++ {
		_, m, err := store.JoinCircle(ctx, users[j], circly.JoinRequest{InviteCode: *c.InviteCode, Nickname: fmt.Sprintf("m%d", j)})
		if err != nil {
			return nil, fmt.Errorf("join circle: %w", err)
		}
		memberOf[j] = m.ID
	}
	jobs := make([]voteJob, 0, polls*membersPerCircle)
	for p := range polls {
		poll, err := store.CreatePoll(ctx, users[0], circly.CreatePollRequest{
			CircleID: c.ID, TemplateID: templateID, Deadline: store.Now().Add(24 * time.Hour),
		})
		if err != nil {
			return nil, fmt.Errorf("create poll: %w", err)
		}
		opts := poll.Options
		if len(opts) != membersPerCircle-1 {
			return nil, fmt.Errorf("poll %s has %d options, want %d", poll.ID, len(opts), membersPerCircle-1)
		}
		own := map[string]int{} // membership id -> index of its own option
		for k, o := range opts {
			own[o.MemberID] = k
		}
		path := "/v1/polls/" + poll.ID + "/vote"
		for j := range users {
			k := p % len(opts) // the creator has no option of their own
			if j > 0 {
				self, ok := own[memberOf[j]]
				if !ok {
					return nil, fmt.Errorf("member %d has no option in poll %s", j, poll.ID)
				}
				k = (self + 1 + p%(len(opts)-1)) % len(opts) // never self
			}
			jobs = append(jobs, voteJob{path: path, auth: bearer[j], body: []byte(`{"option_id":"` + opts[k].ID + `"}`),
				userID: users[j], memberID: memberOf[j], pollID: poll.ID, optionID: opts[k].ID})
		}
	}
	return jobs, nil
}

// voteRun is what one pass over the jobs measured.
type voteRun struct {
	elapsed   time.Duration
	latencies []time.Duration // sorted
	failures  int
	firstFail string
}

func (r voteRun) percentile(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	i := int(p*float64(len(r.latencies)) + 0.5)
	return r.latencies[min(max(i-1, 0), len(r.latencies)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// run casts every job with `voters` concurrent goroutines pulling from one shared queue.
func (h *voteHarness) run(voters int) voteRun {
	var (
		next     atomic.Int64
		fails    atomic.Int64
		failOnce sync.Once
		first    string
		wg       sync.WaitGroup
	)
	perVoter := make([][]time.Duration, voters)
	start := time.Now()
	for v := range voters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, len(h.jobs)/voters+1)
			for {
				i := int(next.Add(1)) - 1
				if i >= len(h.jobs) {
					break
				}
				job := h.jobs[i]
				req, err := http.NewRequest(http.MethodPost, h.baseURL+job.path, bytes.NewReader(job.body))
				if err != nil {
					panic(err)
				}
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", job.auth)
				t0 := time.Now()
				resp, err := h.client.Do(req)
				var body []byte
				status := 0
				if err == nil {
					status = resp.StatusCode
					if status == http.StatusCreated {
						_, err = io.Copy(io.Discard, resp.Body)
					} else {
						body, _ = io.ReadAll(io.LimitReader(resp.Body, 512))
					}
					_ = resp.Body.Close()
				}
				lat = append(lat, time.Since(t0))
				if err != nil || status != http.StatusCreated {
					fails.Add(1)
					failOnce.Do(func() { first = fmt.Sprintf("POST %s: status %d, err %v, body %s", job.path, status, err, body) })
				}
			}
			perVoter[v] = lat
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	all := make([]time.Duration, 0, len(h.jobs))
	for _, l := range perVoter {
		all = append(all, l...)
	}
	slices.Sort(all)
	return voteRun{elapsed: elapsed, latencies: all, failures: int(fails.Load()), firstFail: first}
}

// check fails unless every vote was accepted and counted exactly once.
func (h *voteHarness) check(tb testing.TB, r voteRun) {
	tb.Helper()
	if r.failures > 0 {
		tb.Fatalf("%d of %d votes failed; first: %s", r.failures, len(h.jobs), r.firstFail)
	}
	var counted struct{ Total, Ballots int64 }
	// Every ballot is either released or waiting sealed in its poll's box.
	if err := h.db.Gorm.Raw(`SELECT (SELECT coalesce(sum(released_total), 0) FROM polls) + (SELECT count(*) FROM ballots) AS total,
		(SELECT count(*) FROM poll_participants) AS ballots`).Scan(&counted).Error; err != nil {
		tb.Fatal(err)
	}
	if counted.Total != int64(len(h.jobs)) || counted.Ballots != int64(len(h.jobs)) {
		tb.Fatalf("stored %d votes and %d ballots, cast %d", counted.Total, counted.Ballots, len(h.jobs))
	}
}

// BenchmarkVoteHTTP measures POST /v1/polls/{id}/vote through HTTP on PostgreSQL: 32 voters,
// each of b.N votes a unique (member, poll) pair that must be answered 201.
func BenchmarkVoteHTTP(b *testing.B) {
	h := newVoteHarness(b, b.N)
	voters := envInt("CIRCLY_BENCH_VOTERS", defaultVoters)
	before, cpuOK := readCPU()
	b.ResetTimer()
	r := h.run(voters)
	b.StopTimer()
	if after, ok := readCPU(); cpuOK && ok && b.N > 1 {
		b.Logf("%d votes: %s", b.N, cpuSplit(before, after, h.backends()))
	}
	h.check(b, r)
	b.ReportMetric(float64(len(h.jobs))/r.elapsed.Seconds(), "votes/s")
	b.ReportMetric(ms(r.percentile(0.50)), "p50_ms")
	b.ReportMetric(ms(r.percentile(0.99)), "p99_ms")
	b.ReportMetric(ms(r.latencies[len(r.latencies)-1]), "max_ms")
}

// TestVoteHTTPSmoke runs the benchmark harness for a couple of hundred votes, so CI keeps it
// working. It asserts correctness only, never timing.
func TestVoteHTTPSmoke(t *testing.T) {
	const votes = 200
	h := newVoteHarness(t, votes)
	r := h.run(defaultVoters)
	h.check(t, r)
	if len(r.latencies) != votes {
		t.Fatalf("recorded %d latencies, want %d", len(r.latencies), votes)
	}
	t.Logf("%d votes in %v (%.0f votes/s, p50 %.1f ms, p99 %.1f ms) — not a measurement",
		votes, r.elapsed, votes/r.elapsed.Seconds(), ms(r.percentile(0.5)), ms(r.percentile(0.99)))
}
