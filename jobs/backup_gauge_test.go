package jobs_test

import (
	"testing"
	"time"

	"circly/internal/testdb"
	"circly/jobs"
	"circly/metrics"
	"circly/sqlstore"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The gauges job exports the newest backup recorded by `circly backup` (another process).
func TestGaugesExportLastBackup(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		start := time.Date(2026, 12, 7, 4, 0, 0, 0, time.UTC)
		e := newDispatchEnv(t, db, start)
		metrics.BackupLastSuccess.Set(0)
		e.run(jobs.JobGauges)
		if v := testutil.ToFloat64(metrics.BackupLastSuccess); v != 0 {
			t.Fatalf("no backup yet: gauge %v, want 0", v)
		}
		for _, fin := range []time.Time{start.Add(-26 * time.Hour), start.Add(-2 * time.Hour)} {
			if err := db.RecordBackup(e.ctx, sqlstore.BackupRun{Name: "circly-" + fin.Format("20060102T150405Z"),
				StartedAt: fin.Add(-time.Minute), FinishedAt: fin, SizeBytes: 1}); err != nil {
				t.Fatal(err)
			}
		}
		e.run(jobs.JobGauges)
		if v, want := testutil.ToFloat64(metrics.BackupLastSuccess), float64(start.Add(-2*time.Hour).Unix()); v != want {
			t.Fatalf("gauge %v, want the newest backup's time %v", v, want)
		}
	})
}
