package testdb

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func pingRedis(rawURL string) error {
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return err
	}
	c := redis.NewClient(opts)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return c.Ping(ctx).Err()
}

// RedisKeyPrefix returns a key prefix ("circly-test:<what>:<random>:") that no other test shares
// on the Redis c talks to, and deletes every key containing it when the test ends (the limiter
// puts "rate:" in front, so the match is anywhere in the key). Tests on the shared Redis leave
// nothing behind this way; tests that stop Redis use their own server (internal/testredis).
func RedisKeyPrefix(t testing.TB, c *redis.Client, what string) string {
	t.Helper()
	prefix := "circly-test:" + what + ":" + randomHex(6) + ":"
	opts := c.Options()
	t.Cleanup(func() {
		// A client of its own: the test may have closed c already.
		rc := redis.NewClient(&redis.Options{Addr: opts.Addr, DB: opts.DB, Username: opts.Username,
			Password: opts.Password, Protocol: opts.Protocol, PoolSize: 1})
		defer rc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := deleteMatching(ctx, rc, "*"+prefix+"*"); err != nil {
			t.Errorf("remove the test's Redis keys %s*: %v", prefix, err)
		}
	})
	return prefix
}

func deleteMatching(ctx context.Context, rc *redis.Client, pattern string) error {
	iter := rc.Scan(ctx, 0, pattern, 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return err
	}
	if len(keys) == 0 {
		return nil
	}
	return rc.Del(ctx, keys...).Err()
}
