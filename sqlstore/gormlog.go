package sqlstore

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/zap"
	"gorm.io/gorm"
	gormlogger "gorm.io/gorm/logger"
)

// gormLogger sends GORM's messages through zap. It never logs SQL text: GORM inlines the
// arguments, and a vote statement holds both the voter and the option.
type gormLogger struct {
	log           *zap.Logger
	slowThreshold time.Duration
}

func newGormLogger(log *zap.Logger) gormlogger.Interface {
	return &gormLogger{log: log.Named("db"), slowThreshold: 500 * time.Millisecond}
}

func (g *gormLogger) LogMode(gormlogger.LogLevel) gormlogger.Interface { return g }

func (g *gormLogger) Info(_ context.Context, msg string, args ...any) {
	g.log.Sugar().Infof(msg, args...)
}

func (g *gormLogger) Warn(_ context.Context, msg string, args ...any) {
	g.log.Sugar().Warnf(msg, args...)
}

func (g *gormLogger) Error(_ context.Context, msg string, args ...any) {
	g.log.Sugar().Errorf(msg, args...)
}

// Trace is called after each statement: failures, slow statements and (at debug) timings.
func (g *gormLogger) Trace(_ context.Context, begin time.Time, fc func() (string, int64), err error) {
	elapsed := time.Since(begin)
	switch {
	case err != nil && Unavailable(err):
		// An outage fails every statement; the request's own line says so once, at warn.
		g.log.Debug("query failed: database unavailable", zap.Error(err), zap.Duration("elapsed", elapsed))
	case err != nil && !errors.Is(err, gorm.ErrRecordNotFound) && !isConstraintError(err) && !isVoteRefusal(err):
		sql, _ := fc()
		g.log.Error("query failed", zap.Error(err), zap.Duration("elapsed", elapsed), zap.Int("sql_len", len(sql)))
	case elapsed > g.slowThreshold:
		g.log.Warn("slow query", zap.Duration("elapsed", elapsed))
	case g.log.Core().Enabled(zap.DebugLevel):
		sql, rows := fc()
		g.log.Debug("query", zap.Duration("elapsed", elapsed), zap.Int64("rows", rows), zap.Int("sql_len", len(sql)))
	}
}

// isVoteRefusal is one of the vote functions' own outcomes (SQLSTATE CV000–CV004: a refused vote,
// or an opening that lost a race to another opener): answered to the client or retried, not a
// failure worth an error line.
func isVoteRefusal(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && strings.HasPrefix(pe.Code, "CV")
}
