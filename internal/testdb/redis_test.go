package testdb_test

import (
	"context"
	"testing"
	"time"

	"circly/internal/testdb"

	"github.com/redis/go-redis/v9"
)

// TestRedisKeyPrefixCleansUp: keys a test writes under its prefix on the shared Redis, anywhere
// in the key, are gone once it ends; others' keys stay.
func TestRedisKeyPrefixCleansUp(t *testing.T) {
	opts, err := redis.ParseURL(testdb.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	defer c.Close()
	ctx := context.Background()
	other := "circly-test:someone-else:" + t.Name()
	if err := c.Set(ctx, other, 1, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	defer c.Del(ctx, other)
	var written []string
	t.Run("writer", func(t *testing.T) {
		prefix := testdb.RedisKeyPrefix(t, c, "self")
		written = []string{prefix + "a", "rate:" + prefix + "b"}
		for _, k := range written {
			if err := c.Set(ctx, k, 1, time.Hour).Err(); err != nil {
				t.Fatal(err)
			}
		}
	})
	if n, err := c.Exists(ctx, written...).Result(); err != nil || n != 0 {
		t.Fatalf("%d of the test's keys left behind (%v)", n, err)
	}
	if n, _ := c.Exists(ctx, other).Result(); n != 1 {
		t.Fatal("another test's key was removed")
	}
}
