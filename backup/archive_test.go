package backup

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestArchiveRoundTrip(t *testing.T) {
	src := t.TempDir()
	files := map[string]string{"0b5c9a3e-7d1f-4a59-9a8e-1c2d3e4f5a6b": "png bytes", "1a2b3c4d-0000-4000-8000-000000000001": strings.Repeat("j", 70_000)}
	for n, body := range files {
		must(t, os.WriteFile(filepath.Join(src, n), []byte(body), 0o600))
	}
	must(t, os.WriteFile(filepath.Join(src, ".upload-123"), []byte("half an upload"), 0o600))
	var buf bytes.Buffer
	n, err := archiveUploads(src, &buf)
	must(t, err)
	if n != 2 {
		t.Fatalf("archived %d files, want 2 (temporary files left out)", n)
	}

	dst := filepath.Join(t.TempDir(), "uploads")
	must(t, os.MkdirAll(dst, 0o750))
	must(t, os.WriteFile(filepath.Join(dst, "1a2b3c4d-0000-4000-8000-000000000001"), []byte("already here"), 0o600))
	written, kept, err := extractUploads(bytes.NewReader(buf.Bytes()), dst)
	must(t, err)
	if written != 1 || kept != 1 {
		t.Fatalf("written %d kept %d, want 1 and 1", written, kept)
	}
	got, _ := os.ReadFile(filepath.Join(dst, "0b5c9a3e-7d1f-4a59-9a8e-1c2d3e4f5a6b"))
	if string(got) != "png bytes" {
		t.Errorf("restored file = %q", got)
	}
	if got, _ := os.ReadFile(filepath.Join(dst, "1a2b3c4d-0000-4000-8000-000000000001")); string(got) != "already here" {
		t.Errorf("an existing file was replaced: %q", got)
	}
	if names, _ := filepath.Glob(filepath.Join(dst, ".*")); len(names) > 0 {
		t.Errorf("temporary files left: %v", names)
	}

	// A missing upload directory is an empty archive (no upload yet).
	buf.Reset()
	if n, err := archiveUploads(filepath.Join(src, "nope"), &buf); err != nil || n != 0 {
		t.Fatalf("missing dir: %d files, %v", n, err)
	}
}

func TestExtractRefusesPathsAndLinks(t *testing.T) {
	for _, h := range []tar.Header{
		{Name: "../evil", Typeflag: tar.TypeReg, Size: 1},
		{Name: "sub/evil", Typeflag: tar.TypeReg, Size: 1},
		{Name: "/etc/evil", Typeflag: tar.TypeReg, Size: 1},
		{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"},
		{Name: ".hidden", Typeflag: tar.TypeReg, Size: 1},
	} {
		var buf bytes.Buffer
		gz := gzip.NewWriter(&buf)
		tw := tar.NewWriter(gz)
		must(t, tw.WriteHeader(&h))
		if h.Size > 0 {
			_, _ = tw.Write([]byte("x"))
		}
		must(t, tw.Close())
		must(t, gz.Close())
		dir := t.TempDir()
		if _, _, err := extractUploads(&buf, dir); err == nil || !strings.Contains(err.Error(), "refusing") {
			t.Errorf("entry %q (%c): err %v, want a refusal", h.Name, h.Typeflag, err)
		}
		if names, _ := os.ReadDir(dir); len(names) > 0 {
			t.Errorf("entry %q left files: %v", h.Name, names)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
