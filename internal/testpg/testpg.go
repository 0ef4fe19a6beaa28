// Package testpg runs a private PostgreSQL server owned by one test, for tests that must stop
// and restart the database (an outage, a recovery) without disturbing the shared one.
//
// It skips the test when PostgreSQL's server binaries are not installed, unless
// CIRCLY_REQUIRE_POSTGRES=1, which turns that into a failure. The cluster is made by initdb in a
// temporary directory, listens on 127.0.0.1 only, trusts local connections, and is removed when
// the test ends. Run as root (CI), the server runs as the `postgres` account: PostgreSQL refuses
// to run as root.
package testpg

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"circly/internal/testproc"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver for the readiness probe
)

// startTimeout bounds how long a start may take before the test fails.
const startTimeout = 30 * time.Second

// Server is one private PostgreSQL cluster. Its port and data stay the same across Stop and
// Start, so clients configured with its URL see an outage and a recovery.
type Server struct {
	t    testing.TB
	bin  string // directory of initdb and postgres
	dir  string // holds data/ and the Unix socket
	port int
	cred *syscall.Credential // nil unless the test runs as root
	log  *testproc.Output

	mu   sync.Mutex
	proc *testproc.Process // nil when stopped
}

// New makes a cluster with initdb, starts it on a free port and removes it when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	bin, err := findBinDir()
	if err != nil {
		if os.Getenv("CIRCLY_REQUIRE_POSTGRES") == "1" {
			t.Fatalf("PostgreSQL server binaries are required (CIRCLY_REQUIRE_POSTGRES=1): %v", err)
		}
		t.Skipf("PostgreSQL server binaries not found (%v); set CIRCLY_REQUIRE_POSTGRES=1 to make this a failure", err)
	}
	dir, err := os.MkdirTemp("", "circly-pg-")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, bin: bin, dir: dir, log: &testproc.Output{}}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("postgres log (port %d):\n%s", s.port, s.log.String())
		}
		_ = os.RemoveAll(dir)
	})
	if os.Geteuid() == 0 {
		s.cred, err = testproc.PostgresAccount(dir, "the server")
		if err != nil {
			t.Fatalf("run PostgreSQL as root's stand-in: %v", err)
		}
	}
	initdb := s.command(filepath.Join(bin, "initdb"), "-D", s.dataDir(), "-U", "postgres",
		"--auth=trust", "--encoding=UTF8", "--no-sync", "--no-instructions")
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	if err := testproc.OnFreePort(t, func(port int) error { s.port = port; return s.start() }); err != nil {
		t.Fatalf("start postgres: %v\n%s", err, s.log.String())
	}
	return s
}

// URL is the server's `postgres` database.
func (s *Server) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

// Port is the server's TCP port.
func (s *Server) Port() int { return s.port }

// Stop shuts the server down the way `pg_ctl stop -m fast` does (SIGINT): open sessions are
// ended with SQLSTATE 57P01 and new connections are refused until Start. It waits for the exit.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	_ = s.proc.P.Signal(syscall.SIGINT)
	select {
	case <-s.proc.Exited:
	case <-time.After(startTimeout):
		_ = s.proc.P.Kill()
		<-s.proc.Exited
	}
	s.proc = nil
}

// Start starts a stopped server again on the same port and returns once it accepts queries.
func (s *Server) Start() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatalf("restart postgres on port %d: %v", s.port, err)
	}
}

func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }

func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = s.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGKILL}
	return cmd
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return nil
	}
	cmd := s.command(filepath.Join(s.bin, "postgres"), "-D", s.dataDir(),
		"-p", strconv.Itoa(s.port), "-k", s.dir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=50", "-c", "shared_buffers=16MB", "-c", "autovacuum=off")
	cmd.Stdout, cmd.Stderr = s.log, s.log
	db, err := sql.Open("pgx", s.URL()) // connects only when asked
	if err != nil {
		return err
	}
	defer db.Close()
	proc, err := testproc.Start(cmd, "postgres", startTimeout, 50*time.Millisecond, func(ctx context.Context) error {
		_, err := db.ExecContext(ctx, "SELECT 1")
		return err
	})
	if err != nil {
		return err
	}
	s.proc = proc
	return nil
}

// findBinDir is the newest /usr/lib/postgresql/<version>/bin with initdb (Debian's layout),
// else the directory of an initdb on PATH.
func findBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	p, err := exec.LookPath("initdb")
	if err != nil {
		return "", err
	}
	return filepath.Dir(p), nil
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}
