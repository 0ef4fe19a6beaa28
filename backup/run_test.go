package backup

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"circly/config"
	"circly/internal/testdb"
	"circly/internal/tests3"

	"go.uber.org/zap/zaptest"
)

// emptyDatabase creates a database of its own for pg_dump (the shared one changes under it).
func emptyDatabase(t *testing.T) string {
	t.Helper()
	base := testdb.PostgresURL(t)
	admin, err := sql.Open("pgx", base)
	must(t, err)
	t.Cleanup(func() { _ = admin.Close() })
	name := fmt.Sprintf("circly_backup_run_%d", time.Now().UnixNano())
	_, err = admin.Exec("CREATE DATABASE " + name)
	must(t, err)
	t.Cleanup(func() { _, _ = admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)") })
	u, err := url.Parse(base)
	must(t, err)
	u.Path = "/" + name
	return u.String()
}

// A bucket that refuses the manifest (a lost connection, a full quota): the run fails, the
// files it had uploaded are removed, nothing is listed as a backup, and the backup before it
// is neither expired nor replaced as latest.
func TestRunThatCannotFinishLeavesNoBackup(t *testing.T) {
	for _, tool := range []string{"pg_dump", "pg_restore"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (Debian: postgresql-client): %v", tool, err)
		}
	}
	srv := tests3.New(t, "circly-test")
	target, _ := url.Parse(srv.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/"+manifestName) {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>quota</Message></Error>`)
			return
		}
		proxy.ServeHTTP(w, r)
	})}
	ln := listen(t)
	go func() { _ = front.Serve(ln) }()
	t.Cleanup(func() { _ = front.Close() })

	uploads := t.TempDir()
	must(t, os.WriteFile(filepath.Join(uploads, "0b5c9a3e-7d1f-4a59-9a8e-1c2d3e4f5a6b"), []byte("png"), 0o600))
	o := Options{
		Bucket: config.Backup{Endpoint: "http://" + ln.Addr().String(), Bucket: srv.Bucket, AccessKey: tests3.AccessKey,
			SecretKey: tests3.SecretKey, Region: "us-east-1", Prefix: "circly/", RetentionDays: 7},
		DatabaseURL: emptyDatabase(t), UploadDir: uploads, Log: zaptest.NewLogger(t),
	}
	ctx := context.Background()

	// A good backup from 30 days ago, past retention.
	old := time.Now().UTC().Add(-30 * 24 * time.Hour)
	o.Now = func() time.Time { return old }
	b, err := openBucket(ctx, o.Bucket, o.Log)
	must(t, err)
	direct := o
	direct.Bucket.Endpoint = srv.URL
	direct.Now = o.Now
	first, err := Run(ctx, direct)
	must(t, err)

	o.Now = nil
	if _, err := Run(ctx, o); err == nil || !strings.Contains(err.Error(), manifestName) {
		t.Fatalf("run with the manifest refused: %v, want it to fail on %s", err, manifestName)
	}
	sets, err := b.sets(ctx)
	must(t, err)
	if len(sets) != 1 || sets[0].Name != first.Manifest.Name || !sets[0].Complete {
		t.Fatalf("sets after the failed run = %+v, want only the earlier good one (not expired)", sets)
	}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	return ln
}
