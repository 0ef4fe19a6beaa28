// Package resultscache keeps answers every reader of a poll shares (its ranked results at one
// released version) in Redis, so that all replicas share one copy. The keys carry the version,
// so an entry is never wrong, only unused once a newer version exists; the TTL clears those.
package resultscache

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// TTL bounds how long an entry outlives its use: a newer version or a finished read burst.
const TTL = 10 * time.Minute

// MaxValue is the largest entry stored (a poll's results are a few kilobytes at most).
const MaxValue = 64 << 10

// OpTimeout bounds one cache call: a slow or unreachable Redis costs a read at most this much
// (go-redis would otherwise retry for seconds) before it goes to the database.
const OpTimeout = 100 * time.Millisecond

// Redis is the cache on a Redis server shared by the replicas.
type Redis struct {
	client redis.UniversalClient
	prefix string
}

// NewRedis returns a cache whose keys all start with prefix (e.g. "circly:").
func NewRedis(c redis.UniversalClient, prefix string) *Redis {
	return &Redis{client: c, prefix: prefix}
}

// Get returns the entry under key; ok is false when there is none.
func (r *Redis) Get(ctx context.Context, key string) (value []byte, ok bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, OpTimeout)
	defer cancel()
	b, err := r.client.Get(ctx, r.prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return b, true, nil
}

// Set stores value under key for TTL; a value above MaxValue is not stored.
func (r *Redis) Set(ctx context.Context, key string, value []byte) error {
	if len(value) > MaxValue {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, OpTimeout)
	defer cancel()
	return r.client.Set(ctx, r.prefix+key, value, TTL).Err()
}
