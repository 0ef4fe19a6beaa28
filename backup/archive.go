package backup

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// maxImage bounds one archived file on restore (uploads are at most MAX_FILE_SIZE, ≤ 1 GiB).
const maxImage = 1 << 30

// archiveUploads writes the upload directory's files as a gzipped tar to w. Files are flat,
// named by id; temporary files (".upload-*") are left out. A missing directory is an empty
// archive (no upload yet).
func archiveUploads(dir string, w io.Writer) (files int, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, err
	}
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if err := addFile(tw, filepath.Join(dir, e.Name()), e.Name()); err != nil {
			return files, err
		}
		files++
	}
	if err := tw.Close(); err != nil {
		return files, err
	}
	return files, gz.Close()
}

func addFile(tw *tar.Writer, path, name string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o640, Size: st.Size(), ModTime: st.ModTime(), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	_, err = io.CopyN(tw, f, st.Size())
	return err
}

// extractUploads unpacks an archive made by archiveUploads into dir. Only plain file names
// are accepted (nothing can land outside dir); a file already there is kept, not replaced
// (an upload never changes under its id). Each file is written to a temporary name first.
func extractUploads(r io.Reader, dir string) (written, kept int, err error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return 0, 0, err
	}
	gz, err := gzip.NewReader(r)
	if err != nil {
		return 0, 0, fmt.Errorf("uploads archive: %w", err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return written, kept, nil
		}
		if err != nil {
			return written, kept, fmt.Errorf("uploads archive: %w", err)
		}
		name := h.Name
		if h.Typeflag != tar.TypeReg || name != filepath.Base(name) || name == "." || name == ".." || strings.HasPrefix(name, ".") {
			return written, kept, fmt.Errorf("uploads archive: refusing entry %q (only plain files)", name)
		}
		if h.Size > maxImage {
			return written, kept, fmt.Errorf("uploads archive: %s is %d bytes, over %d", name, h.Size, maxImage)
		}
		dst := filepath.Join(dir, name)
		if _, err := os.Lstat(dst); err == nil {
			kept++
			continue
		}
		if err := writeFile(dst, io.LimitReader(tr, h.Size)); err != nil {
			return written, kept, err
		}
		written++
	}
}

func writeFile(dst string, r io.Reader) (err error) {
	f, err := os.CreateTemp(filepath.Dir(dst), ".upload-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if _, err = io.Copy(f, r); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), dst)
}
