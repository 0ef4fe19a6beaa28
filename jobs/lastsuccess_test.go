package jobs_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"circly/jobs"
	"circly/metrics"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
)

// TestLastSuccess: a scheduled job exports its interval; jobs_last_success_timestamp_seconds
// moves on a run without error and stays on a failed one (what CirclyJobOverdue watches).
func TestLastSuccess(t *testing.T) {
	fail := false
	job := jobs.Job{Name: "last_success_test", Interval: time.Hour, Run: func(context.Context) (jobs.Counts, error) {
		if fail {
			return nil, errors.New("broken")
		}
		return nil, nil
	}}
	s, err := jobs.NewScheduler(zap.NewNop(), nil, job)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	if got := testutil.ToFloat64(metrics.JobInterval.WithLabelValues(job.Name)); got != 3600 {
		t.Fatalf("jobs_interval_seconds = %v, want 3600", got)
	}
	last := func() float64 { return testutil.ToFloat64(metrics.JobLastSuccess.WithLabelValues(job.Name)) }
	scheduled := last()
	if scheduled < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Fatalf("a scheduled job starts at %v, not at the time it was scheduled", scheduled)
	}

	metrics.JobLastSuccess.WithLabelValues(job.Name).Set(1) // long ago
	fail = true
	if _, err := jobs.RunOnce(context.Background(), job); err == nil {
		t.Fatal("the failing run returned no error")
	}
	if last() != 1 {
		t.Fatalf("a failed run moved the last success to %v", last())
	}
	fail = false
	if _, err := jobs.RunOnce(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	if got := last(); got < scheduled {
		t.Fatalf("a good run left the last success at %v", got)
	}
}
