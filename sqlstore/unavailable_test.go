package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"circly"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestUnavailable: outages (unreachable, refusing, shutting down, dropped mid-statement) are
// told apart from defects, also when wrapped.
func TestUnavailable(t *testing.T) {
	outages := []error{
		&pgconn.PgError{Code: "57P01"}, &pgconn.PgError{Code: "57P03"}, &pgconn.PgError{Code: "08006"},
		&pgconn.PgError{Code: "53300"}, &pgconn.ConnectError{},
		&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, syscall.ECONNRESET, io.ErrUnexpectedEOF,
		context.DeadlineExceeded, errors.New("conn closed"),
	}
	for _, err := range outages {
		if !Unavailable(fmt.Errorf("query: %w", err)) {
			t.Errorf("%T %v: not an outage", err, err)
		}
	}
	defects := []error{
		nil, &pgconn.PgError{Code: "42P01"}, &pgconn.PgError{Code: "23505"}, &pgconn.PgError{Code: "CV001"},
		errors.New("sql: Scan error"), context.Canceled, circly.ErrPollClosed,
	}
	for _, err := range defects {
		if Unavailable(err) {
			t.Errorf("%v: taken for an outage", err)
		}
	}
}
