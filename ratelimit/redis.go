package ratelimit

import (
	"context"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

var _ Limiter = (*Redis)(nil)

// Redis is a GCRA limiter whose state lives in Redis (one Lua script per request, using
// Redis's clock), so every replica on the same Redis draws from one budget per key.
type Redis struct {
	l      *redis_rate.Limiter
	prefix string
}

// NewRedis returns a limiter on rdb whose keys start with prefix (redis_rate adds "rate:"
// before it).
func NewRedis(rdb redis.UniversalClient, prefix string) *Redis {
	return &Redis{l: redis_rate.NewLimiter(rdb), prefix: prefix}
}

// Allow implements Limiter. An error (Redis unreachable, a timeout) is returned as is: the
// caller decides whether to fail open.
func (r *Redis) Allow(ctx context.Context, key string, l Limit) (Result, error) {
	if l.Off() {
		return Result{Allowed: true, Limit: l.Rate, Remaining: l.Rate}, nil
	}
	res, err := r.l.Allow(ctx, r.prefix+key, redis_rate.Limit{Rate: l.Rate, Burst: l.Rate, Period: l.Period})
	if err != nil {
		return Result{}, err
	}
	out := Result{Allowed: res.Allowed > 0, Limit: l.Rate, Remaining: res.Remaining, ResetAfter: res.ResetAfter}
	if !out.Allowed {
		out.RetryAfter = res.RetryAfter
		out.Remaining = 0
	}
	if out.ResetAfter < 0 {
		out.ResetAfter = 0
	}
	return out, nil
}
