package web

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
)

// asset is one static file, hashed once at start-up.
type asset struct {
	body        []byte
	contentType string
	hash        string // first 16 hex digits of its SHA-256: the ETag and the ?v= of its URL
}

// assets are the files under static/, by their path there ("invite.css").
type assets struct {
	files map[string]asset
}

func loadAssets(fsys fs.FS) (*assets, error) {
	a := &assets{files: map[string]asset{}}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = "application/octet-stream"
		}
		a.files[p] = asset{body: b, contentType: ct, hash: hex.EncodeToString(sum[:8])}
		return nil
	})
	return a, err
}

// url is the address of a static file with its content hash, so a changed file gets a new
// URL and an unchanged one can be cached for a year. Templates call it as {{asset "x.css"}};
// a name that is not embedded fails the page's rendering (a test renders every page).
func (a *assets) url(name string) (string, error) {
	f, ok := a.files[name]
	if !ok {
		return "", fs.ErrNotExist
	}
	return StaticPrefix + name + "?v=" + f.hash, nil
}

// ServeHTTP serves StaticPrefix + name. With the current ?v= hash the answer is immutable for
// a year; without it (or with an old one) the client revalidates with the ETag each time.
func (a *assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, ok := a.files[strings.TrimPrefix(r.URL.Path, StaticPrefix)]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	etag := `"` + f.hash + `"`
	h.Set("ETag", etag)
	if r.URL.Query().Get("v") == f.hash {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", f.contentType)
	h.Set("Content-Length", strconv.Itoa(len(f.body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(f.body)
	}
}
