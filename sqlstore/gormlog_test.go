package sqlstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestExpectedRefusalsAreNotErrors: a refused vote (already voted, closed, not a voter) or an
// opening that lost a race is the vote functions' own answer, not a failing query; nor is an
// outage a defect; a real database failure still logs at error.
func TestExpectedRefusalsAreNotErrors(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	g := newGormLogger(zap.New(core))
	sql := func() (string, int64) { return "SELECT …", 0 }
	for _, code := range []string{"CV000", "CV001", "CV002", "CV003", "CV004"} {
		g.Trace(context.Background(), time.Now(), sql, &pgconn.PgError{Code: code, Message: "refused"})
	}
	if n := logs.FilterLevelExact(zapcore.ErrorLevel).Len(); n != 0 {
		t.Fatalf("%d refusals logged at error level", n)
	}
	// An outage fails every statement: the request's answer logs it once, at warn (server).
	g.Trace(context.Background(), time.Now(), sql, &pgconn.PgError{Code: "57P01", Message: "terminating connection"})
	g.Trace(context.Background(), time.Now(), sql, &pgconn.ConnectError{})
	if n := logs.FilterLevelExact(zapcore.ErrorLevel).Len(); n != 0 {
		t.Fatalf("%d outage failures logged at error level", n)
	}
	g.Trace(context.Background(), time.Now(), sql, &pgconn.PgError{Code: "42P01", Message: "relation does not exist"})
	g.Trace(context.Background(), time.Now(), sql, errors.New("sql: Scan error on column index 0"))
	if n := logs.FilterLevelExact(zapcore.ErrorLevel).Len(); n != 2 {
		t.Fatalf("%d real failures logged at error level, want 2", n)
	}
}
