package jobs

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestJobFailureLevels: a tick that fails because the database is unreachable logs at warn
// (the next tick retries; the outage has its own alert), any other failure at error.
func TestJobFailureLevels(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	s := &Scheduler{log: zap.New(core)}
	fail := func(err error) Job {
		return Job{Name: "j", Run: func(context.Context) (Counts, error) { return nil, err }}
	}
	s.runner(fail(&pgconn.ConnectError{}))(context.Background())
	s.runner(fail(errors.New("syntax error at or near")))(context.Background())
	if n := logs.FilterLevelExact(zapcore.WarnLevel).FilterMessage("job run failed: database unavailable").Len(); n != 1 {
		t.Fatalf("%d warn lines for the outage, want 1", n)
	}
	if n := logs.FilterLevelExact(zapcore.ErrorLevel).Len(); n != 1 {
		t.Fatalf("%d error lines, want 1 (the defect only)", n)
	}
}
