package server

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"
)

// liveUsers remembers recently seen users, so an authenticated request costs no query in the
// common case. A user not seen within interval costs one read (does the account still exist?),
// shared by concurrent requests of that user (an app opening its connections at once, every
// client of a restarted replica redialing). Their last_active_at is written in the background,
// one UPDATE a second for all of them: written per request, it was 14 % of a replica's CPU in
// the classroom load test, and a commit each.
type liveUsers struct {
	store    activity
	log      *zap.Logger
	interval time.Duration

	mu     sync.Mutex
	seen   map[string]time.Time
	checks singleflight.Group

	touchMu   sync.Mutex
	touched   map[string]struct{} // seen since the last flush
	scheduled bool                // a flush is due in touchDelay
	timer     *time.Timer         // the due flush
	stopped   bool                // stop was called: nothing more is written
}

func newLiveUsers(store activity, log *zap.Logger, interval time.Duration) *liveUsers {
	return &liveUsers{store: store, log: log, interval: interval, seen: map[string]time.Time{}, touched: map[string]struct{}{}}
}

const (
	liveUsersMax = 200_000
	touchDelay   = time.Second
)

func (l *liveUsers) alive(ctx context.Context, id string) (bool, error) {
	now := time.Now()
	l.mu.Lock()
	t, ok := l.seen[id]
	l.mu.Unlock()
	if ok && now.Sub(t) < l.interval {
		return true, nil
	}
	v, err, _ := l.checks.Do(id, func() (any, error) {
		// Shared by every caller waiting on id: one caller going away must not fail the others.
		qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		alive, err := l.store.UserExists(qctx, id)
		if err != nil || !alive {
			l.forget(id)
			return alive, err
		}
		l.mu.Lock()
		if len(l.seen) >= liveUsersMax {
			l.seen = map[string]time.Time{} // bounded memory: start over rather than grow
		}
		l.seen[id] = now
		l.mu.Unlock()
		l.touch(id)
		return true, nil
	})
	alive, _ := v.(bool)
	return alive, err
}

// touch queues id's last_active_at for the next flush.
func (l *liveUsers) touch(id string) {
	l.touchMu.Lock()
	defer l.touchMu.Unlock()
	if len(l.touched) < liveUsersMax {
		l.touched[id] = struct{}{}
	}
	if !l.scheduled && !l.stopped {
		l.scheduled = true
		l.timer = time.AfterFunc(touchDelay, l.flush)
	}
}

// stop writes what is queued and schedules nothing more: the database closes after it.
func (l *liveUsers) stop() {
	l.touchMu.Lock()
	l.stopped = true
	if l.timer != nil {
		l.timer.Stop()
	}
	l.touchMu.Unlock()
	l.flush()
}

// flush writes last_active_at for the users queued since the last one. A failed write is
// logged and dropped: it is an activity marker, written again within the next interval.
func (l *liveUsers) flush() {
	l.touchMu.Lock()
	batch := l.touched
	l.touched, l.scheduled = map[string]struct{}{}, false
	l.touchMu.Unlock()
	if len(batch) == 0 {
		return
	}
	ids := make([]string, 0, len(batch))
	for id := range batch {
		ids = append(ids, id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.store.TouchUsers(ctx, ids, l.interval); err != nil {
		l.log.Warn("recording user activity failed", zap.Int("users", len(ids)), zap.Error(err))
	}
}

func (l *liveUsers) forget(id string) {
	l.mu.Lock()
	delete(l.seen, id)
	l.mu.Unlock()
}
