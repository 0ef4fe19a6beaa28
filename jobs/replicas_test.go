package jobs_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"circly"
	"circly/app"
	"circly/internal/testdb"
	"circly/internal/testkit"
	"circly/jobs"
	"circly/metrics"
	"circly/push/pushtest"
	"circly/realtime"
	"circly/sqlstore"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
)

// tickLog records which scheduler ran which job in which tick.
type tickLog struct {
	mu   sync.Mutex
	runs map[string]int // "job:tick" → runs
}

func (l *tickLog) wrap(js []jobs.Job) []jobs.Job {
	out := make([]jobs.Job, len(js))
	for i, j := range js {
		run, name, iv, per := j.Run, j.Name, j.Interval, j.PerReplica
		j.Run = func(ctx context.Context) (jobs.Counts, error) {
			if !per {
				tick := (time.Now().UnixNano() + int64(iv)/2) / int64(iv)
				l.mu.Lock()
				l.runs[fmt.Sprintf("%s:%d", name, tick)]++
				l.mu.Unlock()
			}
			return run(ctx)
		}
		out[i] = j
	}
	return out
}

func (l *tickLog) doubled() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for k, n := range l.runs {
		if n > 1 {
			out = append(out, fmt.Sprintf("%s ran %d times", k, n))
		}
	}
	return out
}

// redisClient opens the test Redis on DB 9 (other packages' tests use DB 0).
func redisClient(t *testing.T) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(testdb.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	opts.DB = 9
	opts.PoolSize = 4
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// replica is one scheduler instance with its own database pool, broker and push client.
type replica struct {
	store *sqlstore.Store
	rec   *recorder
	app   *app.Service
	sched *jobs.Scheduler
}

// TestThreeSchedulersCloseNotifyAndPushOnce runs three scheduler instances against one
// PostgreSQL and one Redis: every poll is closed (and announced) once, every notification is
// written once and every push reaches the push service once, and no job runs twice in a tick.
func TestThreeSchedulersCloseNotifyAndPushOnce(t *testing.T) {
	url := testdb.PostgresSchemaURL(t)
	expo := pushtest.New(t)
	prefix := testdb.RedisKeyPrefix(t, redisClient(t), "jobs")
	ticks := &tickLog{runs: map[string]int{}}
	var reps []*replica
	var firstDB *sqlstore.DB
	for i := range 3 {
		db, err := sqlstore.Open(sqlstore.OpenOptions{PostgresURL: url, MaxOpenConns: 6})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		if i == 0 {
			if _, err := db.MigrateUp(context.Background()); err != nil {
				t.Fatal(err)
			}
			firstDB = db
		}
		r := &replica{store: sqlstore.NewStore(db, testPolicy(), testkit.Ballots()), rec: &recorder{}}
		r.app = app.New(r.store, r.rec, nil)
		runner := jobs.NewRunner(jobs.Deps{App: r.app, Push: pushClient(expo)}, fastSettings())
		r.sched, err = jobs.NewScheduler(nil, jobs.RedisLockers{Client: redisClient(t), Prefix: prefix}, ticks.wrap(runner.Jobs())...)
		if err != nil {
			t.Fatal(err)
		}
		reps = append(reps, r)
	}
	f := &fixture{t: t, ctx: context.Background(), db: firstDB, store: reps[0].store, app: reps[0].app}

	var polls []circly.Poll
	for range 4 {
		c := f.circle(4)
		for k := range 2 {
			p := f.poll(c, time.Now().Add(2*time.Second+time.Duration(k)*time.Second))
			polls = append(polls, p)
			// m1 picks m2; m2 and m0 pick m1: m1 is picked twice, m2 once.
			for _, v := range []struct{ who, option int }{{1, 1}, {2, 0}, {0, 0}} {
				if err := f.vote(c.Members[v.who], p, v.option); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	const perPoll = 3 + 4 + 2 // poll_start to the others, poll_result to all, picked to m1 and m2
	want := len(polls) * perPoll

	skippedBefore := testutil.ToFloat64(metrics.JobRuns.WithLabelValues(jobs.JobClosePolls, "skipped"))
	okBefore := testutil.ToFloat64(metrics.JobRuns.WithLabelValues(jobs.JobClosePolls, "ok"))
	for _, r := range reps {
		r.sched.Start()
	}
	t.Cleanup(func() {
		for _, r := range reps {
			_ = r.sched.Stop()
		}
	})
	waitFor(t, 30*time.Second, "every poll closed and every push delivered", func() bool {
		return f.scalar(`SELECT count(*) FROM polls WHERE closed_at IS NULL`) == 0 && len(expo.Messages()) >= want
	})
	time.Sleep(2 * time.Second) // room for a doubled close or push to show up
	for _, r := range reps {
		_ = r.sched.Stop()
	}

	if n := f.scalar(`SELECT count(*) FROM notifications`); n != int64(want) {
		t.Fatalf("%d notifications, want %d", n, want)
	}
	seen := map[string]bool{}
	for _, m := range expo.Messages() {
		if seen[key(m)] {
			t.Fatalf("push sent twice: %s", key(m))
		}
		seen[key(m)] = true
	}
	if len(seen) != want {
		t.Fatalf("%d distinct pushes, want %d", len(seen), want)
	}
	if n := f.scalar(`SELECT count(*) FROM push_outbox WHERE status <> 'sent'`); n != 0 {
		t.Fatalf("%d outbox rows not sent", n)
	}
	finals, events := 0, 0
	for _, r := range reps {
		finals += r.rec.Count(realtime.KindFinal, realtime.PollPrefix)
		events += r.rec.CountEvent(realtime.KindEvent, realtime.CirclePrefix, app.EventPollClosed)
	}
	if finals != len(polls) || events != len(polls) {
		t.Fatalf("%d poll_closed frames and %d circle events across replicas, want %d each", finals, events, len(polls))
	}
	for _, p := range polls {
		a, err := f.store.AuditPoll(f.ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if a.Released != 3 || a.CountSum != 3 || a.Participants != 3 || a.Waiting != 0 {
			t.Fatalf("poll %s audit %+v", p.ID, a)
		}
		tally, err := f.store.Tally(f.ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		// Release at the third vote (version 1), then exactly one close (version 2).
		if !tally.IsClosed || tally.Version != 2 || tally.TotalVotes != 3 {
			t.Fatalf("poll %s tally %+v, want closed at version 2 with 3 votes", p.ID, tally)
		}
	}
	if d := ticks.doubled(); len(d) > 0 {
		t.Fatalf("jobs ran more than once in a tick: %v", d)
	}
	// Each tick: one replica ran it, the other two counted it skipped.
	ran := testutil.ToFloat64(metrics.JobRuns.WithLabelValues(jobs.JobClosePolls, "ok")) - okBefore
	skipped := testutil.ToFloat64(metrics.JobRuns.WithLabelValues(jobs.JobClosePolls, "skipped")) - skippedBefore
	if ran < 3 || skipped < ran {
		t.Fatalf("close_polls ran %v times and was skipped %v times, want about twice as many skips as runs", ran, skipped)
	}
}

// TestPushesSurviveAnOutage stops the push service while pushes are due: each is retried with
// backoff and, once the service is back, delivered exactly once.
func TestPushesSurviveAnOutage(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		expo := pushtest.New(t)
		st := sqlstore.NewStore(db, testPolicy(), testkit.Ballots())
		svc := app.New(st, nil, nil)
		f := &fixture{t: t, ctx: context.Background(), db: db, store: st, app: svc}
		runner := jobs.NewRunner(jobs.Deps{App: svc, Push: pushClient(expo)}, fastSettings())
		sched, err := jobs.NewScheduler(nil, nil, runner.Jobs()...)
		if err != nil {
			t.Fatal(err)
		}
		expo.Down()
		var want int
		for range 3 {
			c := f.circle(5)
			f.poll(c, time.Now().Add(time.Hour))
			want += 4
		}
		sched.Start()
		t.Cleanup(func() { _ = sched.Stop() })
		waitFor(t, 15*time.Second, "failed attempts while the service is down", func() bool {
			return f.scalar(`SELECT count(*) FROM push_outbox WHERE attempts >= 2 AND status = 'pending'`) == int64(want)
		})
		if n := len(expo.Messages()); n != 0 {
			t.Fatalf("%d pushes arrived while the service was down", n)
		}
		if err := expo.Up(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 15*time.Second, "every push delivered", func() bool { return len(expo.Messages()) >= want })
		time.Sleep(1500 * time.Millisecond)
		_ = sched.Stop()
		seen := map[string]bool{}
		for _, m := range expo.Messages() {
			if seen[key(m)] {
				t.Fatalf("push delivered twice: %s", key(m))
			}
			seen[key(m)] = true
		}
		if len(seen) != want {
			t.Fatalf("%d pushes delivered, want %d", len(seen), want)
		}
		if n := f.scalar(`SELECT count(*) FROM push_outbox WHERE status = 'sent' AND attempts >= 3`); n != int64(want) {
			t.Fatalf("%d pushes sent after retries, want %d", n, want)
		}
	})
}

// TestShortPollClosesWithinFiveSeconds runs the scheduler on a 2 s poll: it is closed within 5 s
// of its deadline with its exact final tally, and a vote after that is POLL_CLOSED.
func TestShortPollClosesWithinFiveSeconds(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		st := sqlstore.NewStore(db, testPolicy(), testkit.Ballots()) // TALLY_RELEASE_BATCH 3
		rec := &recorder{}
		svc := app.New(st, rec, nil)
		f := &fixture{t: t, ctx: context.Background(), db: db, store: st, app: svc}
		runner := jobs.NewRunner(jobs.Deps{App: svc}, jobs.Defaults()) // close ticks every second
		sched, err := jobs.NewScheduler(nil, nil, runner.Jobs()...)
		if err != nil {
			t.Fatal(err)
		}
		c := f.circle(4)
		p := f.poll(c, time.Now().Add(2*time.Second))
		for _, v := range []struct{ who, option int }{{1, 1}, {2, 0}} {
			if err := f.vote(c.Members[v.who], p, v.option); err != nil {
				t.Fatal(err)
			}
		}
		if tl, _ := st.Tally(f.ctx, p.ID); tl.TotalVotes != 0 {
			t.Fatalf("released %d votes before close, want 0 (batch of 3)", tl.TotalVotes)
		}
		sched.Start()
		t.Cleanup(func() { _ = sched.Stop() })
		var closedAt time.Time
		waitFor(t, 10*time.Second, "the poll to close", func() bool {
			var at []time.Time
			_ = db.Gorm.Raw(`SELECT closed_at FROM polls WHERE id = ? AND closed_at IS NOT NULL`, p.ID).Scan(&at).Error
			if len(at) == 1 {
				closedAt = at[0]
			}
			return len(at) == 1
		})
		_ = sched.Stop()
		late := closedAt.Sub(p.Deadline)
		if late < 0 || late > 5*time.Second {
			t.Fatalf("closed %s after its deadline, want within 5 s", late)
		}
		t.Logf("closed %s after its deadline", late)
		if err := f.vote(c.Members[3], p, 0); err == nil || circly.ErrPollClosed.Code != codeOf(err) {
			t.Fatalf("vote after close: %v, want POLL_CLOSED", err)
		}
		res, err := st.GetResults(f.ctx, c.Members[1].User.ID, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !res.IsClosed || res.TotalVotes != 2 || res.Results[0].VoteCount != 1 || res.Results[1].VoteCount != 1 {
			t.Fatalf("results %+v, want the exact 1 and 1", res)
		}
		if n := rec.Count(realtime.KindFinal, realtime.PollPrefix); n != 1 {
			t.Fatalf("%d poll_closed frames, want 1", n)
		}
		// poll_result to all four, picked to m1 and m2.
		if n := f.scalar(`SELECT count(*) FROM notifications WHERE poll_id = ? AND type IN ('poll_result', 'picked')`, p.ID); n != 6 {
			t.Fatalf("%d close notifications, want 6", n)
		}
	})
}

func codeOf(err error) circly.Code {
	var e *circly.Error
	if ok := asError(err, &e); ok {
		return e.Code
	}
	return ""
}
