// Package jobs runs Circly's scheduled jobs in-process: one gocron scheduler per replica, each
// job claimed once per tick across replicas (Redis in distributed mode, memory in embedded
// mode), and every job idempotent on its own (conditional updates), so a lost or doubled claim
// never doubles an effect.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"circly/metrics"
	"circly/sqlstore"

	"github.com/getsentry/sentry-go"
	"github.com/go-co-op/gocron/v2"
	"github.com/google/uuid"
	"go.uber.org/zap"
)

// Counts are what one run of a job did, logged on its one line per run.
type Counts map[string]int

// Job is one scheduled job: a name (its metric label and lock key), how often it ticks, and
// the work of one tick.
type Job struct {
	Name     string
	Interval time.Duration
	Run      func(ctx context.Context) (Counts, error)
	// PerReplica jobs run on every replica each tick, without a claim (gauges, which each
	// replica exports on its own /metrics).
	PerReplica bool
}

// Scheduler owns the gocron scheduler of this process.
type Scheduler struct {
	cron gocron.Scheduler
	log  *zap.Logger
	ctx  context.Context
	stop context.CancelFunc
}

// NewScheduler registers jobs; nothing runs until Start. lockers may be nil: a process-local
// claim table (one replica).
func NewScheduler(log *zap.Logger, lockers Lockers, jobs ...Job) (*Scheduler, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if lockers == nil {
		lockers = NewMemoryLockers()
	}
	cron, err := gocron.NewScheduler(gocron.WithStopTimeout(30 * time.Second))
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &Scheduler{cron: cron, log: log, ctx: ctx, stop: stop}
	for _, j := range jobs {
		if err := s.add(j, lockers); err != nil {
			_ = cron.Shutdown()
			stop()
			return nil, fmt.Errorf("job %s: %w", j.Name, err)
		}
	}
	return s, nil
}

func (s *Scheduler) add(j Job, lockers Lockers) error {
	if j.Interval <= 0 || j.Run == nil || j.Name == "" {
		return errors.New("a job needs a name, a positive interval and a function")
	}
	opts := []gocron.JobOption{
		gocron.WithName(j.Name),
		gocron.WithContext(s.ctx),
		// One run at a time on this replica; a tick that comes while the previous run is still
		// going is skipped, not queued.
		gocron.WithSingletonMode(gocron.LimitModeReschedule),
		// Replicas tick on the same interval boundaries, so their ticks name the same claim: the
		// schedule starts on a boundary in the past and gocron steps it forward by the interval.
		gocron.WithStartAt(gocron.WithStartDateTimePast(lastBoundary(time.Now(), j.Interval))),
		gocron.WithEventListeners(gocron.AfterLockError(func(_ uuid.UUID, name string, err error) {
			metrics.JobRuns.WithLabelValues(name, "skipped").Inc()
			if !errors.Is(err, ErrLockHeld) {
				s.log.Debug("job tick not claimed", zap.String("job", name), zap.Error(err))
			}
		})),
	}
	if j.PerReplica {
		opts = append(opts, gocron.WithDisabledDistributedJobLocker(true))
	} else {
		inner, err := lockers.For(j.Interval)
		if err != nil {
			return err
		}
		opts = append(opts, gocron.WithDistributedJobLocker(tickLocker{interval: j.Interval, inner: inner, now: time.Now}))
	}
	if _, err := s.cron.NewJob(gocron.DurationJob(j.Interval), gocron.NewTask(s.runner(j)), opts...); err != nil {
		return err
	}
	metrics.ScheduleJob(j.Name, j.Interval)
	return nil
}

// lastBoundary is the last multiple of interval (since the Unix epoch) at or before now.
func lastBoundary(now time.Time, interval time.Duration) time.Time {
	iv := int64(interval)
	return time.Unix(0, now.UnixNano()/iv*iv)
}

// runner wraps a job's work with its metrics, its log line and Sentry (see sentry.go).
func (s *Scheduler) runner(j Job) func(ctx context.Context) {
	var lastReport atomic.Int64 // when this job last sent an event (Unix ns)
	return func(ctx context.Context) {
		start := time.Now()
		runCtx, trace := startRunTrace(ctx, j.Name)
		counts, err := RunOnce(runCtx, j)
		elapsed := time.Since(start)
		fields := []zap.Field{zap.String("job", j.Name), zap.Duration("took", elapsed), zap.Any("counts", counts)}
		var panicked *PanicError
		switch {
		case errors.As(err, &panicked):
			s.log.Error("job run panicked", append(fields, zap.Error(err), zap.ByteString("stack", panicked.Stack))...)
			trace.fail(err, &lastReport)
		case err != nil && ctx.Err() != nil:
			s.log.Info("job run interrupted by shutdown", append(fields, zap.Error(err))...)
			trace.finish(sentry.SpanStatusCanceled)
		case err != nil && sqlstore.Unavailable(err):
			// An outage, not a defect: the next tick runs the job again once the database is back.
			// Not sent to Sentry either: the outage has its own alert.
			s.log.Warn("job run failed: database unavailable", append(fields, zap.Error(err))...)
			trace.finish(sentry.SpanStatusUnavailable)
		case err != nil:
			s.log.Error("job run failed", append(fields, zap.Error(err))...)
			trace.fail(err, &lastReport)
		case len(counts) > 0:
			s.log.Info("job run", fields...)
			trace.finish(sentry.SpanStatusOK)
		default:
			s.log.Debug("job run", fields...) // an idle tick (nothing due) stays out of the info log
			trace.drop()
		}
	}
}

// RunOnce runs one tick of a job with its metrics (tests call it directly). A panic is
// recovered and returned as a *PanicError: the scheduler keeps ticking.
func RunOnce(ctx context.Context, j Job) (counts Counts, err error) {
	start := time.Now()
	defer func() {
		if v := recover(); v != nil {
			err = newPanicError(v)
		}
		metrics.JobDuration.WithLabelValues(j.Name).Observe(time.Since(start).Seconds())
		result := "ok"
		if err != nil {
			result = "error"
		} else {
			metrics.JobLastSuccess.WithLabelValues(j.Name).SetToCurrentTime()
		}
		metrics.JobRuns.WithLabelValues(j.Name, result).Inc()
		counts = nonZero(counts)
	}()
	return j.Run(ctx)
}

func nonZero(c Counts) Counts {
	for k, v := range c {
		if v == 0 {
			delete(c, k)
		}
	}
	return c
}

// Start begins ticking.
func (s *Scheduler) Start() { s.cron.Start() }

// Stop cancels running jobs' contexts, waits for them to return (up to the stop timeout) and
// stops the scheduler. Work a job leaves half done is picked up by the next tick anywhere.
func (s *Scheduler) Stop() error {
	s.stop()
	return s.cron.Shutdown()
}
