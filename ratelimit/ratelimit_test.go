package ratelimit_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"circly/internal/testdb"
	"circly/ratelimit"

	"github.com/redis/go-redis/v9"
)

// testLimiter runs the cases every Limiter must pass. newLimiter returns a fresh limiter (or
// one with a fresh key space).
func testLimiter(t *testing.T, newLimiter func(t *testing.T) ratelimit.Limiter) {
	ctx := context.Background()
	t.Run("burst then deny", func(t *testing.T) {
		l := newLimiter(t)
		lim := ratelimit.Limit{Rate: 5, Period: time.Minute}
		for i := range 5 {
			r, err := l.Allow(ctx, "k", lim)
			if err != nil {
				t.Fatal(err)
			}
			if !r.Allowed || r.Limit != 5 || r.Remaining != 4-i {
				t.Fatalf("request %d: %+v, want allowed with %d remaining", i+1, r, 4-i)
			}
			if r.ResetAfter <= 0 || r.ResetAfter > time.Minute {
				t.Fatalf("request %d: reset after %s", i+1, r.ResetAfter)
			}
		}
		r, err := l.Allow(ctx, "k", lim)
		if err != nil {
			t.Fatal(err)
		}
		// One request is earned back every 12 s.
		if r.Allowed || r.Remaining != 0 || r.RetryAfter <= 0 || r.RetryAfter > 12*time.Second {
			t.Fatalf("6th request: %+v, want denied, retry within 12s", r)
		}
		if r.ResetAfter < 48*time.Second || r.ResetAfter > time.Minute {
			t.Fatalf("6th request: reset after %s, want about a minute", r.ResetAfter)
		}
	})
	t.Run("keys are independent", func(t *testing.T) {
		l := newLimiter(t)
		lim := ratelimit.Limit{Rate: 1, Period: time.Hour}
		for _, k := range []string{"a", "b", "c"} {
			if r, err := l.Allow(ctx, k, lim); err != nil || !r.Allowed {
				t.Fatalf("%s first: %+v %v", k, r, err)
			}
			if r, err := l.Allow(ctx, k, lim); err != nil || r.Allowed {
				t.Fatalf("%s second: %+v %v", k, r, err)
			}
		}
	})
	t.Run("zero rate is off", func(t *testing.T) {
		l := newLimiter(t)
		for range 100 {
			if r, err := l.Allow(ctx, "k", ratelimit.Limit{Rate: 0, Period: time.Hour}); err != nil || !r.Allowed {
				t.Fatalf("%+v %v", r, err)
			}
		}
	})
	t.Run("refills", func(t *testing.T) {
		l := newLimiter(t)
		lim := ratelimit.Limit{Rate: 2, Period: 600 * time.Millisecond}
		for range 2 {
			if r, err := l.Allow(ctx, "k", lim); err != nil || !r.Allowed {
				t.Fatalf("%+v %v", r, err)
			}
		}
		// Whatever the third answers, one request is back 300 ms later.
		time.Sleep(350 * time.Millisecond)
		if r, err := l.Allow(ctx, "k", lim); err != nil || !r.Allowed {
			t.Fatalf("after a refill interval: %+v %v", r, err)
		}
	})
	t.Run("concurrent requests never overspend", func(t *testing.T) {
		l := newLimiter(t)
		lim := ratelimit.Limit{Rate: 100, Period: time.Hour}
		var allowed atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, 200)
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 4 {
					r, err := l.Allow(ctx, "hot", lim)
					if err != nil {
						errs <- err
						return
					}
					if r.Allowed {
						allowed.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if n := allowed.Load(); n != 100 {
			t.Fatalf("%d of 200 concurrent requests allowed, want exactly 100", n)
		}
	})
}

func TestMemoryLimiter(t *testing.T) {
	testLimiter(t, func(*testing.T) ratelimit.Limiter { return ratelimit.NewMemory() })
}

func TestMemoryForgetsIdleKeys(t *testing.T) {
	m := ratelimit.NewMemory()
	now := time.Unix(1_700_000_000, 0)
	var mu sync.Mutex
	m.SetClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	lim := ratelimit.Limit{Rate: 10, Period: time.Minute}
	for i := range 1000 {
		if _, err := m.Allow(context.Background(), fmt.Sprintf("ip:%d", i), lim); err != nil {
			t.Fatal(err)
		}
	}
	if n := m.Len(); n != 1000 {
		t.Fatalf("%d keys held, want 1000", n)
	}
	// Within the period the keys still count.
	advance(time.Second)
	m.Sweep()
	if n := m.Len(); n != 1000 {
		t.Fatalf("%d keys after 1s, want 1000", n)
	}
	// Once each budget is whole again, the next requests sweep them away by themselves.
	advance(2 * time.Minute)
	for i := range 2 * 64 * 8 {
		_, _ = m.Allow(context.Background(), fmt.Sprintf("new:%d", i), lim)
	}
	if n := m.Len(); n != 2*64*8 {
		t.Fatalf("%d keys held after the idle ones expired, want only the %d new ones", n, 2*64*8)
	}
}

// TestMemoryBounded: a flood of new keys within one period never holds more than the cap.
func TestMemoryBounded(t *testing.T) {
	m := ratelimit.NewMemory()
	m.SetShardCap(10)
	lim := ratelimit.Limit{Rate: 1, Period: time.Hour}
	for i := range 10_000 {
		if r, err := m.Allow(context.Background(), fmt.Sprintf("flood:%d", i), lim); err != nil || !r.Allowed {
			t.Fatalf("new key %d: %+v %v", i, r, err)
		}
	}
	if n := m.Len(); n > 64*10 {
		t.Fatalf("%d keys held, want at most %d", n, 64*10)
	}
}

func redisClient(t *testing.T) *redis.Client { return redisClientB(t) }

func redisClientB(t testing.TB) *redis.Client {
	opts, err := redis.ParseURL(testdb.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	opts.PoolSize = 8
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// testPrefix is a key prefix no other test shares; its keys go when the test ends.
func testPrefix(t testing.TB, c *redis.Client) string { return testdb.RedisKeyPrefix(t, c, "rl") }

func TestRedisLimiter(t *testing.T) {
	c := redisClient(t)
	testLimiter(t, func(*testing.T) ratelimit.Limiter { return ratelimit.NewRedis(c, testPrefix(t, c)) })
}

// TestRedisSharedBudget: two limiters on separate connections (two replicas) draw from one
// budget per key.
func TestRedisSharedBudget(t *testing.T) {
	ca := redisClient(t)
	prefix := testPrefix(t, ca)
	a := ratelimit.NewRedis(ca, prefix)
	b := ratelimit.NewRedis(redisClient(t), prefix)
	lim := ratelimit.Limit{Rate: 10, Period: time.Hour}
	allowed := 0
	for i := range 30 {
		l := a
		if i%2 == 1 {
			l = b
		}
		r, err := l.Allow(context.Background(), "user:1", lim)
		if err != nil {
			t.Fatal(err)
		}
		if r.Allowed {
			allowed++
		}
	}
	if allowed != 10 {
		t.Fatalf("two limiters together allowed %d, want 10", allowed)
	}
}

// TestRedisDown: an unreachable Redis is an error, never a silent allow or deny.
func TestRedisDown(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer c.Close()
	_, err := ratelimit.NewRedis(c, "circly-test:rl:down:" /* nothing reaches Redis: nothing to remove */).Allow(context.Background(), "k", ratelimit.Limit{Rate: 1, Period: time.Minute})
	if err == nil {
		t.Fatal("no error from an unreachable Redis")
	}
}
