package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"circly/backup"
	"circly/config"
	"circly/sqlstore"

	"go.uber.org/zap"
)

// backupTimeout bounds one backup or restore run (a CronJob that hangs blocks the next one).
const backupTimeout = 6 * time.Hour

// backupRun prepares a backup or restore run: its options and a context that ends on SIGTERM,
// on Ctrl-C or after backupTimeout. done releases both.
func backupRun(cfg config.Config) (o backup.Options, ctx context.Context, done func(), err error) {
	if err := cfg.CheckBackup(); err != nil {
		return backup.Options{}, nil, nil, err
	}
	log, err := newLogger(cfg)
	if err != nil {
		return backup.Options{}, nil, nil, err
	}
	o = backup.Options{
		Bucket: cfg.Backup, DatabaseURL: cfg.DatabaseURL, UploadDir: filepath.Join(cfg.DataDir, "uploads"),
		Version: version, Log: log.Named("backup"),
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, backupTimeout)
	return o, ctx, func() { cancel(); stop(); _ = log.Sync() }, nil
}

// backupCmd is `circly backup` (make one, upload, verify, expire old ones, record it) and
// `circly backup list`.
func backupCmd(cfg config.Config, args []string, stdout io.Writer) error {
	o, ctx, done, err := backupRun(cfg)
	if err != nil {
		return err
	}
	defer done()
	switch {
	case len(args) == 1 && args[0] == "list":
		sets, err := backup.List(ctx, o)
		for _, s := range sets {
			state := "complete"
			if !s.Complete {
				state = "partial (not a backup)"
			}
			fmt.Fprintf(stdout, "%s  %s  %12d bytes  %s\n", s.Name, s.Time.Format(time.RFC3339), s.Size, state)
		}
		return err
	case len(args) > 0:
		return fmt.Errorf("usage: circly backup [list]")
	}
	// The run is recorded at the end; a database that cannot take the record fails now, before
	// an hour of dumping and uploading.
	db, err := sqlstore.Open(sqlstore.OpenOptions{PostgresURL: cfg.DatabaseURL, MaxOpenConns: 1, Logger: o.Log})
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.CheckBackupRuns(ctx); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	res, err := backup.Run(ctx, o)
	if err != nil {
		o.Log.Error("backup failed", zap.Error(err))
		return fmt.Errorf("backup: %w", err)
	}
	run := sqlstore.BackupRun{Name: res.Manifest.Name, StartedAt: res.Started, FinishedAt: res.Finished, SizeBytes: res.Size}
	if err := db.RecordBackup(ctx, run); err != nil {
		return fmt.Errorf("backup %s is uploaded but could not be recorded (the replicas' metric will not see it): %w", run.Name, err)
	}
	fmt.Fprintf(stdout, "backup %s: %d bytes, %d images, verified; %d expired deleted\n",
		run.Name, run.SizeBytes, res.Manifest.Images, len(res.Expired))
	return nil
}

// restoreCmd is `circly restore [name|latest] [--clean]`.
func restoreCmd(cfg config.Config, args []string, stdout io.Writer) error {
	var ro backup.RestoreOptions
	for _, a := range args {
		switch {
		case a == "--clean":
			ro.Clean = true
		case ro.Name == "" && len(a) > 0 && a[0] != '-':
			ro.Name = a
		default:
			return fmt.Errorf("usage: circly restore [NAME|latest] [--clean]")
		}
	}
	o, ctx, done, err := backupRun(cfg)
	if err != nil {
		return err
	}
	defer done()
	m, err := backup.Restore(ctx, o, ro)
	if err != nil {
		o.Log.Error("restore failed", zap.Error(err))
		return fmt.Errorf("restore: %w", err)
	}
	fmt.Fprintf(stdout, "restored %s (made %s by %s): database and %d images\n", m.Name, m.CreatedAt.Format(time.RFC3339), m.Version, m.Images)
	return nil
}
