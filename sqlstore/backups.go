package sqlstore

import (
	"context"
	"fmt"
	"time"
)

// BackupRun is one off-site backup that was uploaded and verified.
type BackupRun struct {
	Name       string
	StartedAt  time.Time
	FinishedAt time.Time
	SizeBytes  int64
}

// RecordBackup notes a good backup. `circly backup` calls it last, so a run that failed or
// stopped half-way is never counted.
func (d *DB) RecordBackup(ctx context.Context, r BackupRun) error {
	return d.Gorm.WithContext(ctx).Exec(`INSERT INTO backup_runs (name, started_at, finished_at, size_bytes) VALUES (?, ?, ?, ?)`,
		r.Name, r.StartedAt.UTC(), r.FinishedAt.UTC(), r.SizeBytes).Error
}

// LastBackup is the newest good backup; ok is false when there has been none.
func (s *Store) LastBackup(ctx context.Context) (run BackupRun, ok bool, err error) {
	var rows []BackupRun
	err = s.conn(ctx).Raw(`SELECT name, started_at, finished_at, size_bytes FROM backup_runs
		ORDER BY finished_at DESC LIMIT 1`).Scan(&rows).Error
	if err != nil || len(rows) == 0 {
		return BackupRun{}, false, err
	}
	return rows[0], true, nil
}

// CheckBackupRuns fails when the database cannot take a RecordBackup (migration 00008 not
// applied), so `circly backup` stops before dumping rather than after uploading.
func (d *DB) CheckBackupRuns(ctx context.Context) error {
	var n int64
	if err := d.Gorm.WithContext(ctx).Raw(`SELECT count(*) FROM backup_runs WHERE 1 = 0`).Scan(&n).Error; err != nil {
		return fmt.Errorf("the database has no backup_runs table (run `circly migrate up`): %w", err)
	}
	return nil
}
