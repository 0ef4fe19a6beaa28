package ratelimit_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"circly/internal/testrediscluster"
	"circly/ratelimit"
)

// TestRedisClusterLimiter runs the limiter suite on a real 3-master Redis Cluster: each limit
// is one key, so its script never crosses slots.
func TestRedisClusterLimiter(t *testing.T) {
	c := testrediscluster.New(t, 3).Client()
	n := 0
	testLimiter(t, func(*testing.T) ratelimit.Limiter {
		n++
		return ratelimit.NewRedis(c, "circly-test:rl:"+strconv.Itoa(n)+":")
	})
	// Keys of many users land on every master and are each limited.
	lim := ratelimit.NewRedis(c, "circly-test:rl:spread:")
	for i := 0; i < 30; i++ {
		key := "user:" + strconv.Itoa(i)
		for j, want := range []bool{true, false} {
			res, err := lim.Allow(context.Background(), key, ratelimit.Limit{Rate: 1, Period: time.Hour})
			if err != nil || res.Allowed != want {
				t.Fatalf("%s call %d: allowed %v, err %v; want %v", key, j, res.Allowed, err, want)
			}
		}
	}
}
