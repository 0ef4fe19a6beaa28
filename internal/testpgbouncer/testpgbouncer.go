// Package testpgbouncer runs a private PgBouncer (Debian's pgbouncer) in transaction pooling
// mode, owned by one test, in front of a PostgreSQL server.
//
// A missing pgbouncer binary fails the test: the tests that use it exist to prove the service
// works through it (CI installs it). It listens on 127.0.0.1 only, trusts its clients (any user
// named in its auth file) and is killed when the test ends. Run as root (CI), it runs as the
// `postgres` account: PgBouncer refuses to run as root.
package testpgbouncer

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"circly/internal/testproc"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver for the readiness probe
)

// Binary is Debian's pgbouncer; PATH is searched when it is absent.
const Binary = "/usr/sbin/pgbouncer"

// startTimeout bounds how long a start may take before the test fails.
const startTimeout = 15 * time.Second

// Options size the pool. Zero values take small defaults.
type Options struct {
	PoolSize      int // default_pool_size: server connections per database and user (default 5)
	MaxClientConn int // max_client_conn (default 200)
}

// Bouncer is one running pgbouncer.
type Bouncer struct {
	Port int
	log  *testproc.Output
}

// New starts pgbouncer on a free port, forwarding every database name to the PostgreSQL server
// at pgHost:pgPort as the same user, and stops it when the test ends.
func New(t testing.TB, pgHost string, pgPort int, opts Options) *Bouncer {
	t.Helper()
	bin, err := findBinary()
	if err != nil {
		t.Fatalf("pgbouncer is required (Debian: apt-get install pgbouncer): %v", err)
	}
	if opts.PoolSize <= 0 {
		opts.PoolSize = 5
	}
	if opts.MaxClientConn <= 0 {
		opts.MaxClientConn = 200
	}
	dir, err := os.MkdirTemp("", "circly-pgbouncer-")
	if err != nil {
		t.Fatal(err)
	}
	b := &Bouncer{log: &testproc.Output{}}
	var proc *testproc.Process
	t.Cleanup(func() {
		if proc != nil {
			_ = proc.P.Kill()
			<-proc.Exited
		}
		if t.Failed() {
			t.Logf("pgbouncer log (port %d):\n%s", b.Port, b.log.String())
		}
		_ = os.RemoveAll(dir)
	})
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		if cred, err = testproc.PostgresAccount(dir, "pgbouncer"); err != nil {
			t.Fatalf("run pgbouncer as root's stand-in: %v", err)
		}
	}
	err = testproc.OnFreePort(t, func(port int) error {
		b.Port = port
		ini := filepath.Join(dir, "pgbouncer.ini")
		if err := writeConfig(dir, ini, b.Port, pgHost, pgPort, opts, cred); err != nil {
			return err
		}
		cmd := exec.Command(bin, ini)
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = b.log, b.log
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
		var err error
		proc, err = testproc.Start(cmd, "pgbouncer", startTimeout, 50*time.Millisecond, b.ready)
		return err
	})
	if err != nil {
		t.Fatalf("start pgbouncer: %v\n%s", err, b.log.String())
	}
	return b
}

// URL is a pgx URL of database db through the bouncer, with extra query parameters appended
// (e.g. "default_query_exec_mode=exec").
func (b *Bouncer) URL(db, extra string) string {
	u := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", b.Port, db)
	if extra != "" {
		u += "&" + extra
	}
	return u
}

// Admin runs a SHOW command (e.g. "SHOW POOLS") on the admin console and returns the rows as
// column -> text maps. The console speaks only the simple query protocol.
func (b *Bouncer) Admin(ctx context.Context, show string) ([]map[string]string, error) {
	db, err := sql.Open("pgx", b.URL("pgbouncer", "default_query_exec_mode=simple_protocol"))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, show)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []map[string]string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := map[string]string{}
		for i, c := range cols {
			row[c] = vals[i].String
		}
		out = append(out, row)
	}
	return out, rows.Err()
}

func (b *Bouncer) ready(ctx context.Context) error {
	_, err := b.Admin(ctx, "SHOW VERSION")
	return err
}

// writeConfig writes the ini and the auth file (trust still requires the user to be listed).
func writeConfig(dir, ini string, port int, pgHost string, pgPort int, o Options, cred *syscall.Credential) error {
	auth := filepath.Join(dir, "userlist.txt")
	conf := fmt.Sprintf(`[databases]
* = host=%s port=%d

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s
admin_users = postgres
pool_mode = transaction
default_pool_size = %d
max_client_conn = %d
max_db_connections = %d
ignore_startup_parameters = extra_float_digits
server_check_delay = 0
`, pgHost, pgPort, port, auth, o.PoolSize, o.MaxClientConn, o.PoolSize)
	for name, body := range map[string]string{ini: conf, auth: `"postgres" ""` + "\n"} {
		if err := os.WriteFile(name, []byte(body), 0o600); err != nil {
			return err
		}
		if cred != nil {
			if err := os.Chown(name, int(cred.Uid), int(cred.Gid)); err != nil {
				return err
			}
		}
	}
	return nil
}

func findBinary() (string, error) {
	if _, err := os.Stat(Binary); err == nil {
		return Binary, nil
	}
	return exec.LookPath("pgbouncer")
}
