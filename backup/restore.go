package backup

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver for the emptiness check
	"go.uber.org/zap"
)

// Limits on what a restore downloads: a manifest is small; a file is at most maxFile.
const (
	maxManifest = 1 << 20
	maxFile     = 1 << 40
)

// RestoreOptions say which backup to restore and how.
type RestoreOptions struct {
	Name  string // a set name, or "" / "latest" for the newest complete one
	Clean bool   // drop the objects of the dump first (restoring over a live database)
}

// Restore downloads a backup set, checks every file against its manifest, then restores the
// dump with pg_restore into DatabaseURL and unpacks the images into UploadDir. Nothing is
// restored unless every file matches. Without Clean the target database must be empty.
func Restore(ctx context.Context, o Options, ro RestoreOptions) (Manifest, error) {
	log := o.Log
	b, err := openBucket(ctx, o.Bucket, log)
	if err != nil {
		return Manifest{}, err
	}
	name, err := resolve(ctx, b, ro.Name)
	if err != nil {
		return Manifest{}, err
	}
	log = log.With(zap.String("backup", name))
	var raw bytes.Buffer
	if _, err := b.download(ctx, name, manifestName, &raw, maxManifest); err != nil {
		return Manifest{}, fmt.Errorf("backup %s has no readable manifest (a partial upload?): %w", name, err)
	}
	var m Manifest
	if err := json.Unmarshal(raw.Bytes(), &m); err != nil || m.Name != name {
		return Manifest{}, fmt.Errorf("backup %s: manifest is not valid (%v)", name, err)
	}
	work, err := os.MkdirTemp("", "circly-restore-")
	if err != nil {
		return m, err
	}
	defer os.RemoveAll(work)

	start := time.Now()
	for _, want := range m.Files {
		if want.Name != dumpName && want.Name != uploadsName {
			return m, fmt.Errorf("backup %s: manifest lists an unknown file %q", name, want.Name)
		}
		if err := fetchChecked(ctx, b, name, want, filepath.Join(work, want.Name)); err != nil {
			return m, err
		}
		log.Info("downloaded and checked", zap.String("file", want.Name), zap.Int64("bytes", want.Size))
	}
	if !ro.Clean {
		if err := requireEmpty(ctx, o.DatabaseURL); err != nil {
			return m, err
		}
	}
	args := []string{"--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"}
	if ro.Clean {
		args = append(args, "--clean", "--if-exists")
	}
	args = append(args, "--dbname="+o.DatabaseURL, filepath.Join(work, dumpName))
	if out, err := exec.CommandContext(ctx, "pg_restore", args...).CombinedOutput(); err != nil {
		return m, fmt.Errorf("pg_restore: %w: %s", err, tail(out))
	}
	log.Info("database restored", zap.Duration("took", time.Since(start)))

	f, err := os.Open(filepath.Join(work, uploadsName))
	if err != nil {
		return m, err
	}
	defer f.Close()
	written, kept, err := extractUploads(f, o.UploadDir)
	if err != nil {
		return m, err
	}
	log.Info("images restored", zap.String("dir", o.UploadDir), zap.Int("written", written), zap.Int("already_there", kept))
	return m, nil
}

func resolve(ctx context.Context, b *bucket, name string) (string, error) {
	if name != "" && name != "latest" {
		if _, ok := timeOf(name); !ok {
			return "", fmt.Errorf("%q is not a backup name (circly-YYYYMMDDTHHMMSSZ, or latest)", name)
		}
		return name, nil
	}
	sets, err := b.sets(ctx)
	if err != nil {
		return "", err
	}
	s, ok := latest(sets)
	if !ok {
		return "", fmt.Errorf("no complete backup under %s/%s", b.name, b.prefix)
	}
	return s.Name, nil
}

// fetchChecked downloads one file and refuses it unless size and SHA-256 match the manifest.
func fetchChecked(ctx context.Context, b *bucket, set string, want File, path string) error {
	if want.Size < 0 || want.Size > maxFile {
		return fmt.Errorf("backup %s: manifest gives %s an impossible size %d", set, want.Name, want.Size)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	got, err := b.download(ctx, set, want.Name, f, want.Size)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("%w: %s/%s is %d bytes sha256 %s, the manifest says %d bytes sha256 %s; refusing to restore it",
			ErrChecksum, set, want.Name, got.Size, got.SHA256, want.Size, want.SHA256)
	}
	return nil
}

// requireEmpty refuses a target database that already has tables: restoring over live data
// needs --clean, said on purpose.
func requireEmpty(ctx context.Context, dbURL string) error {
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	var n int
	err = db.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()`).Scan(&n)
	if err != nil {
		return fmt.Errorf("check the target database: %w", err)
	}
	if n > 0 {
		return errors.New("the target database (DATABASE_URL) has tables already: restore into an empty database, or pass --clean to replace them")
	}
	return nil
}
