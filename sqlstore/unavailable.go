package sqlstore

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// Unavailable tells an outage of the database (it cannot be reached, refuses connections, is
// shutting down or starting up, or dropped the connection mid-statement) apart from a defect.
// The first is the client's to retry later (503); the second is a bug (500).
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return unavailableState(pe.Code)
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	switch {
	case errors.As(err, &ce), errors.As(err, &ne):
		return true
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	case errors.Is(err, context.DeadlineExceeded):
		// The request's own deadline ran out waiting for a connection or a statement: the
		// database is too slow to answer in time, which a client also retries.
		return true
	}
	// pgx reports a connection it closed after a failure without a typed error.
	return strings.Contains(err.Error(), "conn closed")
}

// unavailableState: class 08 (connection exception), 57P01–57P03 (the server is shutting down,
// crashed or is starting), 53300 (too many connections).
func unavailableState(code string) bool {
	return strings.HasPrefix(code, "08") || code == "57P01" || code == "57P02" || code == "57P03" || code == "53300"
}
