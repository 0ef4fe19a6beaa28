package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"
)

var _ Storage = (*Local)(nil)

// Local stores files in one directory, named by their id. A file is written to a temporary
// name in the same directory and renamed into place only once complete, so a crash or a
// failed upload never leaves a partial file under a real id.
type Local struct {
	dir string
}

// NewLocal uses dir (created when missing).
func NewLocal(dir string) (*Local, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create upload directory: %w", err)
	}
	l := &Local{dir: dir}
	l.removeStaleTemps(time.Hour)
	return l, nil
}

// removeStaleTemps deletes temporary files a crash left behind (older than age: a live
// upload on another replica sharing the directory is younger).
func (l *Local) removeStaleTemps(age time.Duration) {
	for _, pattern := range []string{".upload-*", ".ping-*"} {
		names, _ := filepath.Glob(filepath.Join(l.dir, pattern))
		for _, n := range names {
			if st, err := os.Stat(n); err == nil && time.Since(st.ModTime()) > age {
				_ = os.Remove(n)
			}
		}
	}
}

// Dir is where the files live.
func (l *Local) Dir() string { return l.dir }

// path maps an id to its file; only canonical UUIDs are accepted, so an id cannot walk out
// of the directory.
func (l *Local) path(id string) (string, error) {
	u, err := uuid.Parse(id)
	if err != nil || u.String() != id {
		return "", ErrNotFound
	}
	return filepath.Join(l.dir, id), nil
}

// Put writes r to a temporary file, syncs it and links it under id.
func (l *Local) Put(ctx context.Context, id, _ string, r io.Reader) (size int64, err error) {
	dst, err := l.path(id)
	if err != nil {
		return 0, fmt.Errorf("storage: bad id %q", id)
	}
	f, err := os.CreateTemp(l.dir, ".upload-*")
	if err != nil {
		return 0, err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	size, err = io.Copy(f, readerWithContext{ctx, r})
	if err != nil {
		return 0, err
	}
	if err = f.Sync(); err != nil {
		return 0, err
	}
	if err = f.Close(); err != nil {
		return 0, err
	}
	// Link, not rename: it fails when the id exists, so a file is never replaced.
	if err = os.Link(tmp, dst); err != nil {
		return 0, err
	}
	_ = os.Remove(tmp)
	syncDir(l.dir)
	return size, nil
}

// Open opens a stored file for reading.
func (l *Local) Open(_ context.Context, id string) (Object, Info, error) {
	p, err := l.path(id)
	if err != nil {
		return nil, Info{}, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, Info{}, mapErr(err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, Info{}, err
	}
	return f, Info{Size: st.Size(), ModTime: st.ModTime()}, nil
}

// Stat describes a stored file.
func (l *Local) Stat(_ context.Context, id string) (Info, error) {
	p, err := l.path(id)
	if err != nil {
		return Info{}, err
	}
	st, err := os.Stat(p)
	if err != nil {
		return Info{}, mapErr(err)
	}
	return Info{Size: st.Size(), ModTime: st.ModTime()}, nil
}

// Delete removes a stored file; a missing one is not an error.
func (l *Local) Delete(_ context.Context, id string) error {
	p, err := l.path(id)
	if err != nil {
		return nil
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Ping creates and removes a file in the directory.
func (l *Local) Ping(context.Context) error {
	f, err := os.CreateTemp(l.dir, ".ping-*")
	if err != nil {
		return err
	}
	name := f.Name()
	_ = f.Close()
	return os.Remove(name)
}

// syncDir makes a new name in dir durable (best effort: not every system can sync a directory).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

func mapErr(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNotFound
	}
	return err
}

// readerWithContext stops a copy when the request's context ends.
type readerWithContext struct {
	ctx context.Context
	r   io.Reader
}

func (r readerWithContext) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}
