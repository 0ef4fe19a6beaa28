package jobs

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/getsentry/sentry-go"
)

// Sentry sees the jobs when cmd/circly has initialized it (SENTRY_DSN): each run gets a hub of
// its own tagged with the job's name, a transaction named after the job when the run is
// sampled (SENTRY_TRACES_SAMPLE_RATE), and its panic or failure as an event. An outage of the
// database is not a defect and sends nothing; neither does a run cut short by shutdown. The job's
// name is the only thing a run adds: no ids, no counts of whom it touched.

// reportEvery spaces a job's events: a defect in a job that ticks every second would otherwise
// send 86,400 copies of itself a day. Each run still logs its failure.
const reportEvery = time.Minute

// PanicError is a job run's recovered panic, returned as its error.
type PanicError struct {
	Value any
	Stack []byte    // for the log
	pcs   []uintptr // for Sentry (see StackTrace)
}

func newPanicError(v any) *PanicError {
	pcs := make([]uintptr, 64)
	n := runtime.Callers(3, pcs) // from the panicking frame down, without the recover machinery
	return &PanicError{Value: v, Stack: debug.Stack(), pcs: pcs[:n]}
}

func (p *PanicError) Error() string { return fmt.Sprintf("panic: %v", p.Value) }

// StackTrace is where the job panicked; Sentry's SDK reads it (the method pkg/errors names).
func (p *PanicError) StackTrace() []uintptr { return p.pcs }

// runTrace is one run's Sentry state; all of it is a no-op while Sentry is off.
type runTrace struct {
	hub *sentry.Hub  // nil: Sentry is off
	tx  *sentry.Span // nil: Sentry is off
}

func startRunTrace(ctx context.Context, job string) (context.Context, runTrace) {
	parent := sentry.CurrentHub()
	client := parent.Client()
	if client == nil {
		return ctx, runTrace{}
	}
	hub := parent.Clone()
	hub.Scope().SetTag("job", job)
	if !client.Options().EnableTracing { // SENTRY_TRACES_SAMPLE_RATE=0
		return sentry.SetHubOnContext(ctx, hub), runTrace{hub: hub}
	}
	tx := sentry.StartTransaction(sentry.SetHubOnContext(ctx, hub), job,
		sentry.WithOpName("job"), sentry.WithTransactionSource(sentry.SourceTask))
	return tx.Context(), runTrace{hub: hub, tx: tx}
}

// fail sends a run's error (a panic's carries the stack where it happened) unless the job
// reported one less than reportEvery ago, and ends the transaction.
func (t runTrace) fail(err error, lastReport *atomic.Int64) {
	now := time.Now().UnixNano()
	last := lastReport.Load()
	if t.hub != nil && now-last >= int64(reportEvery) && lastReport.CompareAndSwap(last, now) {
		t.hub.CaptureException(err)
	}
	t.finish(sentry.SpanStatusInternalError)
}

// finish ends the run's transaction with status; it is sent if the run was sampled.
func (t runTrace) finish(status sentry.SpanStatus) {
	if t.tx != nil {
		t.tx.Status = status
		t.tx.Finish()
	}
}

// drop ends the run's transaction without sending it: an idle tick (nothing due) is most ticks
// of a job that runs every second, and would drown the runs that did something.
func (t runTrace) drop() {
	if t.tx != nil {
		t.tx.Sampled = sentry.SampledFalse
		t.tx.Finish()
	}
}
