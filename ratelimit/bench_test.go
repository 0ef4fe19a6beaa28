package ratelimit_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"circly/ratelimit"
)

// The cost one request pays for its budget check, in memory and on a local Redis.
func benchLimiter(b *testing.B, l ratelimit.Limiter) {
	lim := ratelimit.Limit{Rate: 1_000_000, Period: time.Second}
	ctx := context.Background()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			if _, err := l.Allow(ctx, "user:"+strconv.Itoa(i%1000), lim); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkMemoryAllow(b *testing.B) { benchLimiter(b, ratelimit.NewMemory()) }

func BenchmarkRedisAllow(b *testing.B) {
	c := redisClientB(b)
	benchLimiter(b, ratelimit.NewRedis(c, testPrefix(b, c)))
}
