package monitor

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// switchable is a replica whose /health/detailed answer the test changes.
type switchable struct{ code atomic.Int32 }

func (s *switchable) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	code := int(s.code.Load())
	w.WriteHeader(code)
	if code == http.StatusServiceUnavailable {
		_, _ = w.Write([]byte(`{"status":"error","services":{"database":{"status":"error","error":"unreachable"}}}`))
	}
}

// waitFor polls cond every 20ms for at most 5s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestRunAlertsOnChangesAndStops(t *testing.T) {
	rep := &switchable{}
	rep.code.Store(http.StatusOK)
	repSrv := httptest.NewServer(rep)
	t.Cleanup(repSrv.Close)
	h := &hook{}
	core, logs := observer.New(zap.InfoLevel)
	m := &Monitor{URLs: []string{repSrv.URL}, Interval: 20 * time.Millisecond, Timeout: time.Second, StableChecks: 2,
		Notifiers: []Notifier{startHook(t, h)}, Retry: fastRetry, Log: zap.New(core)}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { m.Run(ctx); close(stopped) }()

	texts := func() []string { got, _ := h.got(); return got }
	time.Sleep(100 * time.Millisecond) // healthy checks: no alert
	if got := texts(); len(got) != 0 {
		t.Fatalf("alerts for a healthy replica: %q", got)
	}
	rep.code.Store(http.StatusServiceUnavailable)
	waitFor(t, "degraded alert", func() bool { return len(texts()) == 1 })
	rep.code.Store(http.StatusOK)
	waitFor(t, "recovered alert", func() bool { return len(texts()) == 2 })
	time.Sleep(100 * time.Millisecond) // the state holds: nothing more
	got := texts()
	if len(got) != 2 || !strings.HasPrefix(got[0], "DEGRADED: ") || !strings.Contains(got[0], "database: unreachable") ||
		!strings.HasPrefix(got[1], "RECOVERED: ") {
		t.Fatalf("alerts %q, want one degraded then one recovered", got)
	}
	if n := logs.FilterMessage("alert sent").Len(); n != 2 {
		t.Errorf("%d 'alert sent' logs, want 2", n)
	}

	cancel()
	select {
	case <-stopped:
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

// TestRunKeepsGoingWhenAlertsFail: an undeliverable alert is logged at error and the monitor
// goes on checking (and alerting) afterwards.
func TestRunKeepsGoingWhenAlertsFail(t *testing.T) {
	rep := &switchable{}
	rep.code.Store(http.StatusInternalServerError)
	repSrv := httptest.NewServer(rep)
	t.Cleanup(repSrv.Close)
	h := &hook{failures: 3, status: http.StatusInternalServerError} // the first alert's 3 attempts fail
	core, logs := observer.New(zap.InfoLevel)
	m := &Monitor{URLs: []string{repSrv.URL}, Interval: 20 * time.Millisecond, Timeout: time.Second, StableChecks: 1,
		Notifiers: []Notifier{startHook(t, h)}, Retry: fastRetry, Log: zap.New(core)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.Run(ctx)

	waitFor(t, "the undelivered alert's error log", func() bool { return logs.FilterMessage("alert not delivered").Len() == 1 })
	if e := logs.FilterMessage("alert not delivered").All()[0]; e.Level != zap.ErrorLevel || e.ContextMap()["attempts"] != int64(3) {
		t.Errorf("undelivered alert logged as %v with %v", e.Level, e.ContextMap())
	}
	rep.code.Store(http.StatusOK)
	waitFor(t, "the recovered alert", func() bool { got, _ := h.got(); return len(got) == 1 && strings.HasPrefix(got[0], "RECOVERED") })
}
