package jobs_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"circly/internal/testsentry"
	"circly/jobs"

	"github.com/getsentry/sentry-go"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestJobsReportToSentry runs a real scheduler against a fake Sentry endpoint: a failing job
// sends an error event tagged with its name (one a minute, however often it fails), a panicking job sends one and keeps ticking, a
// job failing because the database is unreachable sends nothing, and (traces sampled at 1) a
// run that did something sends a transaction named after its job while an idle tick does not.
func TestJobsReportToSentry(t *testing.T) {
	sink := testsentry.New(t)
	if err := sentry.Init(sentry.ClientOptions{Dsn: sink.DSN(), EnableTracing: true, TracesSampleRate: 1}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sentry.CurrentHub().BindClient(nil) })

	var failing, panicking, outage, idle atomic.Int32
	tick := 50 * time.Millisecond
	s, err := jobs.NewScheduler(nil, nil,
		jobs.Job{Name: "test_failing", Interval: tick, Run: func(context.Context) (jobs.Counts, error) {
			failing.Add(1)
			return nil, errors.New("ledger out of balance")
		}},
		jobs.Job{Name: "test_panicking", Interval: tick, Run: func(context.Context) (jobs.Counts, error) {
			if panicking.Add(1) == 1 {
				panic("tally index out of range")
			}
			return nil, nil
		}},
		jobs.Job{Name: "test_outage", Interval: tick, Run: func(context.Context) (jobs.Counts, error) {
			outage.Add(1)
			return nil, &pgconn.ConnectError{}
		}},
		jobs.Job{Name: "test_busy", Interval: tick, Run: func(context.Context) (jobs.Counts, error) {
			return jobs.Counts{"closed": 2}, nil
		}},
		jobs.Job{Name: "test_idle", Interval: tick, Run: func(context.Context) (jobs.Counts, error) {
			idle.Add(1)
			return jobs.Counts{"closed": 0}, nil
		}},
	)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	for deadline := time.Now().Add(10 * time.Second); failing.Load() < 3 || panicking.Load() < 3 || outage.Load() < 3 || idle.Load() < 3; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("jobs did not keep ticking: panicking %d, outage %d, idle %d runs", panicking.Load(), outage.Load(), idle.Load())
		}
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if !sentry.Flush(10 * time.Second) {
		t.Fatal("events not delivered within 10s")
	}

	failed := sink.WaitFor("event", 0, "the failing job's error", func(it testsentry.Item) bool {
		return it.Tag("job") == "test_failing"
	})
	if !strings.Contains(failed.Raw, "ledger out of balance") || failed.Payload["level"] != "error" {
		t.Errorf("failing job's event: %s", failed.Raw)
	}
	if n := countTagged(sink.Of("event"), "test_failing"); n != 1 {
		t.Errorf("%d events for %d failed runs within a minute, want 1", n, failing.Load())
	}
	panicked := sink.WaitFor("event", 0, "the panic", func(it testsentry.Item) bool { return it.Tag("job") == "test_panicking" })
	if !strings.Contains(panicked.Raw, "tally index out of range") || !strings.Contains(panicked.Raw, "TestJobsReportToSentry") {
		t.Errorf("panic event: %s", panicked.Raw)
	}
	if n := countTagged(sink.Of("event"), "test_panicking"); n != 1 {
		t.Errorf("%d events for one panic, want 1", n)
	}
	for _, quiet := range []string{"test_outage", "test_busy", "test_idle"} {
		if n := countTagged(sink.Of("event"), quiet); n != 0 {
			t.Errorf("%d events from %s, want none:\n%s", n, quiet, sink.Dump())
		}
	}

	busy := sink.WaitFor("transaction", 0, "a busy run", func(it testsentry.Item) bool { return it.Name() == "test_busy" })
	if busy.Tag("job") != "test_busy" {
		t.Errorf("transaction without its job tag: %s", busy.Raw)
	}
	for _, tx := range sink.Of("transaction") {
		if tx.Name() == "test_idle" {
			t.Errorf("an idle tick sent a transaction: %s", tx.Raw)
		}
	}
	sink.WaitFor("transaction", 0, "a failed run", func(it testsentry.Item) bool { return it.Name() == "test_failing" })
}

func countTagged(items []testsentry.Item, job string) int {
	n := 0
	for _, it := range items {
		if it.Tag("job") == job {
			n++
		}
	}
	return n
}

// TestJobsUntracedAtRateZero: with tracing off a failing job still sends its event, and no run
// sends a transaction.
func TestJobsUntracedAtRateZero(t *testing.T) {
	sink := testsentry.New(t)
	if err := sentry.Init(sentry.ClientOptions{Dsn: sink.DSN()}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sentry.CurrentHub().BindClient(nil) })
	var busy atomic.Int32
	s, err := jobs.NewScheduler(nil, nil,
		jobs.Job{Name: "test_failing", Interval: 50 * time.Millisecond, Run: func(context.Context) (jobs.Counts, error) {
			return nil, errors.New("ledger out of balance")
		}},
		jobs.Job{Name: "test_busy", Interval: 50 * time.Millisecond, Run: func(context.Context) (jobs.Counts, error) {
			busy.Add(1)
			return jobs.Counts{"closed": 1}, nil
		}},
	)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	for deadline := time.Now().Add(10 * time.Second); busy.Load() < 3; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the busy job did not tick")
		}
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if !sentry.Flush(10 * time.Second) {
		t.Fatal("events not delivered within 10s")
	}
	sink.WaitFor("event", 0, "the failing job's error", func(it testsentry.Item) bool { return it.Tag("job") == "test_failing" })
	if txs := sink.Of("transaction"); len(txs) > 0 {
		t.Fatalf("%d transactions with tracing off:\n%s", len(txs), sink.Dump())
	}
}
