package sqlstore_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"circly/sqlstore"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestPoolerHint(t *testing.T) {
	for _, code := range []string{"42P05", "26000"} {
		pg := &pgconn.PgError{Severity: "ERROR", Code: code,
			Message: `prepared statement "stmtcache_5c4655db" does not exist`}
		err := sqlstore.PoolerHint(fmt.Errorf("failed to list migrations: %w", pg))
		if !strings.Contains(err.Error(), "DATABASE_URL") || !strings.Contains(err.Error(), "default_query_exec_mode=exec") {
			t.Errorf("%s: %v, want a hint naming DATABASE_URL and the query mode", code, err)
		}
		if !errors.Is(err, pg) {
			t.Errorf("%s: the hint hides the PostgreSQL error", code)
		}
	}
	other := errors.New(`ERROR: relation "users" does not exist (SQLSTATE 42P01)`)
	if err := sqlstore.PoolerHint(other); err != other {
		t.Errorf("other errors change: %v", err)
	}
	if sqlstore.PoolerHint(nil) != nil {
		t.Error("nil became an error")
	}
}
