package testrediscluster

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestClusterServesEverySlot(t *testing.T) {
	c := New(t, 3)
	cc := c.Client()
	ctx := context.Background()
	for i := 0; i < 50; i++ { // keys spread over every master
		k := "k" + strconv.Itoa(i)
		if err := cc.Set(ctx, k, i, 0).Err(); err != nil {
			t.Fatalf("set %s: %v", k, err)
		}
	}
	opts, err := redis.ParseClusterURL(c.URL())
	if err != nil {
		t.Fatalf("parse %s: %v", c.URL(), err)
	}
	if len(opts.Addrs) != 3 {
		t.Fatalf("URL %s names %d nodes, want 3", c.URL(), len(opts.Addrs))
	}
	var masters atomic.Int32
	err = cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		masters.Add(1)
		return nil
	})
	if err != nil || masters.Load() != 3 {
		t.Fatalf("masters = %d, err = %v", masters.Load(), err)
	}
}
