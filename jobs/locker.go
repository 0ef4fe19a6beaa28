package jobs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	redislock "github.com/go-co-op/gocron-redis-lock/v2"
	"github.com/go-co-op/gocron/v2"
	"github.com/go-redsync/redsync/v4"
	"github.com/redis/go-redis/v9"
)

// A job must run once per tick across every replica. gocron's locker holds a lock only while
// the job runs: a replica whose tick fires a few milliseconds after another's finished would
// get the lock and run the job a second time in the same tick. So the lock key carries the
// tick (the job's start time rounded to its interval; replicas align their ticks on interval
// boundaries) and the lock is never released: it expires after two intervals, by which time
// its tick is long past. Whoever claims "close_polls:<tick>" first runs that tick; the others
// skip it.

// ErrLockHeld is returned when another scheduler already claimed the tick.
var ErrLockHeld = errors.New("jobs: tick already claimed by another scheduler")

// tickLocker turns a plain locker (Redis or memory) into a once-per-tick claim.
type tickLocker struct {
	interval time.Duration
	inner    gocron.Locker
	now      func() time.Time
}

func (l tickLocker) Lock(ctx context.Context, name string) (gocron.Lock, error) {
	tick := roundToInterval(l.now(), l.interval)
	if _, err := l.inner.Lock(ctx, fmt.Sprintf("%s:%d", name, tick)); err != nil {
		return nil, err
	}
	return keptLock{}, nil
}

// roundToInterval names the tick t belongs to: the nearest multiple of interval since the Unix
// epoch, so a tick that fires a little late (or on a replica whose clock is a little off) still
// names the same tick.
func roundToInterval(t time.Time, interval time.Duration) int64 {
	n := t.UnixNano()
	iv := int64(interval)
	return (n + iv/2) / iv
}

// keptLock is a claim that is not released: it expires on its own once its tick is over.
type keptLock struct{}

func (keptLock) Unlock(context.Context) error { return nil }

// Lockers builds the per-job lockers of one scheduler.
type Lockers interface {
	// For returns the locker a job of this interval uses.
	For(interval time.Duration) (gocron.Locker, error)
}

// RedisLockers claim ticks in Redis through gocron-redis-lock (distributed mode): one
// attempt, no waiting, a claim that lives two intervals.
type RedisLockers struct {
	Client redis.UniversalClient
	Prefix string // key prefix, e.g. "circly:jobs:"
}

// For returns a Redis locker whose claims expire after two intervals (at least two seconds).
func (r RedisLockers) For(interval time.Duration) (gocron.Locker, error) {
	return redislock.NewRedisLockerWithOptions(r.Client, redislock.WithKeyPrefix(r.Prefix),
		redislock.WithRedsyncOptions(redsync.WithTries(1), redsync.WithExpiry(claimTTL(interval))))
}

func claimTTL(interval time.Duration) time.Duration { return max(2*interval, 2*time.Second) }

// MemoryLockers claim ticks in this process (embedded mode: one replica). Schedulers that share
// one MemoryLockers behave like replicas sharing Redis.
type MemoryLockers struct {
	mu     sync.Mutex
	claims map[string]time.Time // key → expiry
	now    func() time.Time
}

// NewMemoryLockers returns an empty in-process claim table.
func NewMemoryLockers() *MemoryLockers {
	return &MemoryLockers{claims: map[string]time.Time{}, now: time.Now}
}

// For returns a locker whose claims expire after two intervals.
func (m *MemoryLockers) For(interval time.Duration) (gocron.Locker, error) {
	return memoryLocker{m: m, ttl: claimTTL(interval)}, nil
}

type memoryLocker struct {
	m   *MemoryLockers
	ttl time.Duration
}

func (l memoryLocker) Lock(_ context.Context, key string) (gocron.Lock, error) {
	m := l.m
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for k, exp := range m.claims {
		if !exp.After(now) {
			delete(m.claims, k)
		}
	}
	if _, held := m.claims[key]; held {
		return nil, ErrLockHeld
	}
	m.claims[key] = now.Add(l.ttl)
	return keptLock{}, nil
}
