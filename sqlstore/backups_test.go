package sqlstore_test

import (
	"strings"
	"testing"
	"time"

	"circly/internal/testdb"
	"circly/sqlstore"
)

// The newest recorded backup is what replicas export; none recorded reads as "none", and a
// name is recorded once.
func TestBackupRuns(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db)
		if _, ok, err := e.s.LastBackup(e.ctx); err != nil || ok {
			t.Fatalf("fresh database: LastBackup ok=%v err=%v, want none", ok, err)
		}
		base := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
		for i, name := range []string{"circly-a", "circly-c", "circly-b"} {
			fin := base.Add(time.Duration([]int{1, 3, 2}[i]) * time.Hour)
			must(t, db.RecordBackup(e.ctx, sqlstore.BackupRun{Name: name, StartedAt: fin.Add(-time.Minute), FinishedAt: fin, SizeBytes: int64(100 * (i + 1))}))
		}
		last, ok, err := e.s.LastBackup(e.ctx)
		must(t, err)
		if !ok || last.Name != "circly-c" || !last.FinishedAt.Equal(base.Add(3*time.Hour)) || last.SizeBytes != 200 {
			t.Fatalf("LastBackup = %+v (ok %v), want circly-c finished at %s", last, ok, base.Add(3*time.Hour))
		}
		if err := db.RecordBackup(e.ctx, sqlstore.BackupRun{Name: "circly-a", StartedAt: base, FinishedAt: base}); err == nil {
			t.Error("the same backup name was recorded twice")
		}

		// Before migration 00008 `circly backup` is told so, before it dumps anything.
		must(t, db.CheckBackupRuns(e.ctx))
		p, err := db.Migrator()
		must(t, err)
		_, err = p.DownTo(e.ctx, 7) // before 00008_backup_runs
		must(t, err)
		if err := db.CheckBackupRuns(e.ctx); err == nil || !strings.Contains(err.Error(), "migrate up") {
			t.Errorf("CheckBackupRuns without the table: %v, want a hint to migrate", err)
		}
	})
}
