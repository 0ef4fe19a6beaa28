package monitor

import (
	"context"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Monitor checks every replica on its own loop and hands each state change to the notifiers.
type Monitor struct {
	URLs         []string
	Interval     time.Duration
	Timeout      time.Duration // of one check
	StableChecks int
	Notifiers    []Notifier
	Retry        Retry
	Client       *http.Client // for the checks; nil: a plain client (Timeout bounds each check)
	Log          *zap.Logger
	now          func() time.Time
}

// Run checks until ctx ends. A slow or failing notifier delays only its replica's next check.
func (m *Monitor) Run(ctx context.Context) {
	if m.Client == nil {
		m.Client = &http.Client{}
	}
	if m.now == nil {
		m.now = time.Now
	}
	m.Log.Info("monitor started", zap.Strings("urls", m.URLs), zap.Stringer("interval", m.Interval),
		zap.Int("notifiers", len(m.Notifiers)))
	var wg sync.WaitGroup
	for _, u := range m.URLs {
		wg.Go(func() { m.watch(ctx, u) })
	}
	wg.Wait()
	m.Log.Info("monitor stopped")
}

// watch is one replica's loop: check now, then on every tick.
func (m *Monitor) watch(ctx context.Context, url string) {
	tracker := NewTracker(m.StableChecks)
	var badSince time.Time // when it went down or degraded, for the recovery's "after"
	ticker := time.NewTicker(m.Interval)
	defer ticker.Stop()
	for {
		obs := Check(ctx, m.Client, url, m.Timeout)
		if ctx.Err() != nil {
			return
		}
		m.Log.Debug("checked", zap.String("url", url), zap.Stringer("state", obs.State), zap.String("detail", obs.Detail))
		if kind, ok := tracker.Observe(obs.State); ok {
			now := m.now()
			if kind != KindRecovered && badSince.IsZero() {
				badSince = now
			}
			m.alert(ctx, Alert{Kind: kind, URL: url, Detail: obs.Detail, After: now.Sub(badSince), At: now})
			if kind == KindRecovered {
				badSince = time.Time{}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// alert sends a through every notifier; one that cannot deliver is logged and the rest go on.
func (m *Monitor) alert(ctx context.Context, a Alert) {
	for _, n := range m.Notifiers {
		attempts, err := m.Retry.deliver(ctx, n, a)
		fields := []zap.Field{zap.String("via", n.Name()), zap.String("kind", string(a.Kind)),
			zap.String("url", a.URL), zap.String("text", a.Text()), zap.Int("attempts", attempts)}
		if err != nil {
			m.Log.Error("alert not delivered", append(fields, zap.Error(err))...)
			continue
		}
		m.Log.Info("alert sent", fields...)
	}
}
