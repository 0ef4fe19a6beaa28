package sqlstore

import (
	"fmt"
	"strings"
)

// PoolerHint adds what to do to an error that shows pgx's cached prepared statements meeting a
// transaction-pooling proxy (PgBouncer 1.18 tracks no prepared statements): such a statement
// was prepared on one server connection and is then missing, or already there, on another.
func PoolerHint(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if strings.Contains(msg, `prepared statement "stmtcache_`) &&
		(strings.Contains(msg, "42P05") || strings.Contains(msg, "26000")) {
		return fmt.Errorf("%w; DATABASE_URL goes through a transaction pooler (PgBouncer?): "+
			"add default_query_exec_mode=exec to it (docs/operations.md, \"PgBouncer\")", err)
	}
	return err
}
