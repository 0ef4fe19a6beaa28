// Package backup makes off-site backups: a pg_dump of the database and an archive of the
// uploaded images, uploaded to an S3-compatible bucket, read back and checked against their
// SHA-256, then described by a manifest written last. Restore checks every file against the
// manifest before it touches the database or the upload directory.
package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"circly/config"

	"go.uber.org/zap"
)

// Options are what a backup or a restore works on.
type Options struct {
	Bucket      config.Backup
	DatabaseURL string
	UploadDir   string // DATA_DIR/uploads
	Version     string // the binary's, written into the manifest
	Log         *zap.Logger
	Now         func() time.Time // tests; nil: time.Now
}

// Manifest describes a complete backup set.
type Manifest struct {
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	Version   string    `json:"version"`
	Files     []File    `json:"files"`
	Images    int       `json:"images"`
}

// Result is a finished backup.
type Result struct {
	Manifest Manifest
	Started  time.Time
	Finished time.Time
	Size     int64
	Expired  []string // sets deleted by retention
}

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now().UTC()
	}
	return time.Now().UTC()
}

// Run makes one backup. It returns an error, and the set stays without its manifest (never a
// good backup), when any step fails. Retention runs only after a good backup.
func Run(ctx context.Context, o Options) (Result, error) {
	log := o.Log
	res := Result{Started: o.now()}
	name := nameAt(res.Started)
	log = log.With(zap.String("backup", name))
	b, err := openBucket(ctx, o.Bucket, log)
	if err != nil {
		return res, err
	}
	work, err := os.MkdirTemp("", "circly-backup-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(work)

	log.Info("backup started", zap.String("bucket", o.Bucket.String()))
	dump, err := dumpDatabase(ctx, o.DatabaseURL, filepath.Join(work, dumpName), log)
	if err != nil {
		return res, err
	}
	images, archive, err := writeArchive(o.UploadDir, filepath.Join(work, uploadsName))
	if err != nil {
		return res, fmt.Errorf("archive %s: %w", o.UploadDir, err)
	}
	log.Info("images archived", zap.String("dir", o.UploadDir), zap.Int("files", images), zap.Int64("bytes", archive.Size))

	m := Manifest{Name: name, CreatedAt: res.Started, Version: o.Version, Files: []File{dump, archive}, Images: images}
	if err := uploadSet(ctx, b, work, m); err != nil {
		// Best effort: a partial set is never restored as latest, and retention removes it
		// anyway; removing it now keeps `backup list` clean.
		partial := Set{Name: name, keys: []string{b.key(name, dumpName), b.key(name, uploadsName), b.key(name, manifestName)}}
		if rmErr := b.remove(context.WithoutCancel(ctx), partial); rmErr != nil {
			log.Warn("could not remove the partial backup", zap.Error(rmErr))
		}
		return res, err
	}
	res.Size = dump.Size + archive.Size
	res.Manifest, res.Finished = m, o.now()
	log.Info("backup uploaded and verified", zap.Int64("bytes", res.Size), zap.Duration("took", res.Finished.Sub(res.Started)))

	res.Expired, err = applyRetention(ctx, b, res.Finished, o.Bucket.RetentionDays, name, log)
	return res, err
}

// dumpDatabase runs pg_dump (custom format, compressed) into path, hashing what it writes,
// and checks that pg_restore can read the result.
func dumpDatabase(ctx context.Context, dbURL, path string, log *zap.Logger) (File, error) {
	start := time.Now()
	f, err := os.Create(path)
	if err != nil {
		return File{}, err
	}
	defer f.Close()
	h := sha256.New()
	counter := &countWriter{}
	cmd := exec.CommandContext(ctx, "pg_dump", "--format=custom", "--no-owner", "--no-privileges", "--dbname="+dbURL)
	cmd.Stdout = io.MultiWriter(f, h, counter)
	stderr := &limitedBuffer{max: 64 << 10}
	cmd.Stderr = stderr
	if err := cmd.Run(); err != nil {
		return File{}, fmt.Errorf("pg_dump: %w: %s", err, stderr.String())
	}
	if err := f.Sync(); err != nil {
		return File{}, err
	}
	// A dump that pg_restore cannot list is not a backup.
	if out, err := exec.CommandContext(ctx, "pg_restore", "--list", path).CombinedOutput(); err != nil {
		return File{}, fmt.Errorf("pg_restore --list of the new dump: %w: %s", err, tail(out))
	}
	log.Info("database dumped", zap.Int64("bytes", counter.n), zap.Duration("took", time.Since(start)))
	return File{Name: dumpName, Size: counter.n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

func writeArchive(dir, path string) (int, File, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, File{}, err
	}
	defer f.Close()
	h := sha256.New()
	counter := &countWriter{}
	n, err := archiveUploads(dir, io.MultiWriter(f, h, counter))
	if err == nil {
		err = f.Sync()
	}
	return n, File{Name: uploadsName, Size: counter.n, SHA256: hex.EncodeToString(h.Sum(nil))}, err
}

// uploadSet uploads and reads back each file, then the manifest: the manifest exists only
// when every file is in the bucket as written.
func uploadSet(ctx context.Context, b *bucket, work string, m Manifest) error {
	for _, f := range m.Files {
		if err := b.upload(ctx, m.Name, f, filepath.Join(work, f.Name)); err != nil {
			return err
		}
		if err := b.verify(ctx, m.Name, f); err != nil {
			return err
		}
	}
	return putManifest(ctx, b, work, m)
}

func putManifest(ctx context.Context, b *bucket, work string, m Manifest) error {
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(work, manifestName)
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		return err
	}
	sum := sha256.Sum256(raw)
	f := File{Name: manifestName, Size: int64(len(raw)), SHA256: hex.EncodeToString(sum[:])}
	if err := b.upload(ctx, m.Name, f, path); err != nil {
		return err
	}
	return b.verify(ctx, m.Name, f)
}

// applyRetention deletes this service's sets older than days, never keep (the new one).
func applyRetention(ctx context.Context, b *bucket, now time.Time, days int, keep string, log *zap.Logger) ([]string, error) {
	sets, err := b.sets(ctx)
	if err != nil {
		return nil, fmt.Errorf("retention: %w", err)
	}
	var deleted []string
	for _, s := range expired(sets, now, time.Duration(days)*24*time.Hour, keep) {
		if err := b.remove(ctx, s); err != nil {
			return deleted, fmt.Errorf("retention: %w", err)
		}
		deleted = append(deleted, s.Name)
		log.Info("expired backup deleted", zap.String("expired", s.Name), zap.Int("retention_days", days))
	}
	return deleted, nil
}

// List returns the sets in the bucket, oldest first.
func List(ctx context.Context, o Options) ([]Set, error) {
	b, err := openBucket(ctx, o.Bucket, o.Log)
	if err != nil {
		return nil, err
	}
	return b.sets(ctx)
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// limitedBuffer keeps the first max bytes of a tool's error output.
type limitedBuffer struct {
	max int
	b   []byte
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return string(l.b) }

func tail(out []byte) string {
	const keep = 4 << 10
	if len(out) > keep {
		out = out[len(out)-keep:]
	}
	return string(out)
}
