package jobs_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"circly/internal/testrediscluster"
	"circly/jobs"
)

// TestRedisLockersOnCluster: a tick claimed by one replica is refused to the other on a real
// 3-master Redis Cluster, for job keys spread over every master; each claim is one key.
func TestRedisLockersOnCluster(t *testing.T) {
	cluster := testrediscluster.New(t, 3)
	ctx := context.Background()
	a, err := jobs.RedisLockers{Client: cluster.Client(), Prefix: "circly:jobs:"}.For(time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	b, err := jobs.RedisLockers{Client: cluster.Client(), Prefix: "circly:jobs:"}.For(time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		key := "job" + strconv.Itoa(i) + "-1700000000"
		lock, err := a.Lock(ctx, key)
		if err != nil {
			t.Fatalf("%s: first claim failed: %v", key, err)
		}
		if _, err := b.Lock(ctx, key); err == nil {
			t.Fatalf("%s: claimed twice", key)
		}
		if err := lock.Unlock(ctx); err != nil {
			t.Fatalf("%s: unlock: %v", key, err)
		}
	}
}
