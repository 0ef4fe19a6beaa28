package storage_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"circly/storage"

	"github.com/google/uuid"
)

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("client went away")
	}
	k := min(len(p), f.n)
	f.n -= k
	return k, nil
}

// entries lists the directory, temporary files included.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

func TestLocalPutOpenStatDelete(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "uploads")
	l, err := storage.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	id := uuid.NewString()
	n, err := l.Put(ctx, id, "image/png", strings.NewReader("hello"))
	if err != nil || n != 5 {
		t.Fatalf("put: %d %v", n, err)
	}
	f, info, err := l.Open(ctx, id)
	if err != nil || info.Size != 5 {
		t.Fatalf("open: %+v %v", info, err)
	}
	b, _ := io.ReadAll(f)
	_ = f.Close()
	if string(b) != "hello" {
		t.Fatalf("read %q", b)
	}
	if _, err := l.Put(ctx, id, "image/png", strings.NewReader("other")); err == nil {
		t.Fatal("an existing id was overwritten")
	}
	if st, err := l.Stat(ctx, id); err != nil || st.Size != 5 {
		t.Fatalf("stat after refused overwrite: %+v %v", st, err)
	}
	if got := entries(t, dir); len(got) != 1 || got[0] != id {
		t.Fatalf("directory holds %v, want only %s", got, id)
	}
	if err := l.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Stat(ctx, id); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("stat after delete: %v", err)
	}
	if _, _, err := l.Open(ctx, "../../etc/passwd"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("open of a path: %v", err)
	}
}

func TestLocalPutFailureLeavesNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := storage.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	id := uuid.NewString()
	if _, err := l.Put(ctx, id, "image/png", &failingReader{n: 100 << 10}); err == nil {
		t.Fatal("a failing reader was stored")
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l.Put(canceled, id, "image/png", bytes.NewReader(make([]byte, 10))); err == nil {
		t.Fatal("a canceled put was stored")
	}
	if got := entries(t, dir); len(got) != 0 {
		t.Fatalf("directory holds %v after failed puts", got)
	}
}
