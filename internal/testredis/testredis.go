// Package testredis runs a private redis-server owned by one test, for tests that must stop,
// restart or freeze Redis (link loss, recovery) without disturbing the shared one.
//
// It skips the test when redis-server is not installed, unless CIRCLY_REQUIRE_REDIS=1, which
// turns a missing binary into a failure. The server listens on 127.0.0.1 only, keeps nothing on
// disk and is killed when the test ends.
package testredis

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"circly/internal/testproc"

	"github.com/redis/go-redis/v9"
)

// Binary is the redis-server used; PATH is searched when it is absent.
const Binary = "/usr/bin/redis-server"

// startTimeout bounds how long a start may take before the test fails.
const startTimeout = 10 * time.Second

// Server is one private redis-server process. Its port stays the same across Stop and Start,
// so clients configured with Addr see a restart.
type Server struct {
	t    testing.TB
	bin  string
	port int
	dir  string
	log  *testproc.Output // the server's output across restarts, shown when the test fails

	mu   sync.Mutex
	proc *testproc.Process // nil when stopped
}

// New starts a private redis-server on a free port and stops it when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	bin, err := findBinary()
	if err != nil {
		if os.Getenv("CIRCLY_REQUIRE_REDIS") == "1" {
			t.Fatalf("redis-server is required (CIRCLY_REQUIRE_REDIS=1) but not found: %v", err)
		}
		t.Skipf("redis-server not found (%v); set CIRCLY_REQUIRE_REDIS=1 to make this a failure", err)
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir(), log: &testproc.Output{}}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("redis-server log (port %d):\n%s", s.port, s.log.String())
		}
	})
	if err := testproc.OnFreePort(t, func(port int) error { s.port = port; return s.start() }); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	return s
}

// Addr is host:port of the server.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Port is the server's TCP port.
func (s *Server) Port() int { return s.port }

// URL is a redis:// URL of database 0 on the server.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Client returns a client of the server with a small pool, closed when the test ends.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), PoolSize: 4})
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}

// Start starts the server again on the same port after Stop, and returns once it answers.
// Its data is gone: it keeps nothing on disk. Calling it on a running server does nothing.
func (s *Server) Start() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatalf("restart redis-server on port %d: %v", s.port, err)
	}
}

// Stop kills the server (as a crash would) and waits for it to exit: clients see their
// connections closed. Calling it on a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	_ = s.proc.P.Kill() // SIGKILL also ends a frozen (SIGSTOPped) process
	<-s.proc.Exited
	s.proc = nil
}

// Freeze suspends the server (SIGSTOP): connections stay open but nothing answers, as when a
// route drops packets. Thaw resumes it.
func (s *Server) Freeze() { s.signal(syscall.SIGSTOP) }

// Thaw resumes a frozen server.
func (s *Server) Thaw() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		s.t.Fatalf("redis-server on port %d is not running", s.port)
	}
	if err := s.proc.P.Signal(sig); err != nil {
		s.t.Fatalf("signal redis-server: %v", err)
	}
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return nil
	}
	cmd := exec.Command(s.bin,
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--daemonize", "no",
		"--logfile", "",
	)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	cmd.SysProcAttr = sysProcAttr()
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), PoolSize: 1, MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	proc, err := testproc.Start(cmd, "redis-server", startTimeout, 20*time.Millisecond,
		func(ctx context.Context) error { return c.Ping(ctx).Err() })
	if err != nil {
		return err
	}
	s.proc = proc
	return nil
}

func findBinary() (string, error) {
	if _, err := os.Stat(Binary); err == nil {
		return Binary, nil
	}
	return exec.LookPath("redis-server")
}
