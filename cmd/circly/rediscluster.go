package main

import (
	"context"
	"fmt"

	"circly/config"
	"circly/realtime"
	"circly/redisbroker"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// openRedisCluster connects to the Redis Cluster named by REDIS_URL (REDIS_CLUSTER=true).
func openRedisCluster(ctx context.Context, cfg config.Config, log *zap.Logger) (redis.UniversalClient, error) {
	opts, err := redis.ParseClusterURL(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL (REDIS_CLUSTER=true): %w", err)
	}
	opts.ContextTimeoutEnabled = true // let request contexts bound Redis calls
	redis.SetLogger(redisLog{log.Named("redis").Sugar()})
	cc := redis.NewClusterClient(opts)
	// Every master must answer: a replica that starts with a shard missing would lose its channels.
	if err := cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return m.Ping(ctx).Err() }); err != nil {
		_ = cc.Close()
		return nil, fmt.Errorf("redis cluster unreachable: %w", err)
	}
	log.Info("redis cluster connected", zap.Strings("seeds", opts.Addrs))
	return cc, nil
}

// newRedisBroker is the broker on rc: sharded pub/sub on a cluster, classic pub/sub otherwise.
func newRedisBroker(rc redis.UniversalClient, log *zap.Logger) realtime.Broker {
	opts := redisbroker.Options{Prefix: "circly:", Logger: log}
	if cc, ok := rc.(*redis.ClusterClient); ok {
		b, err := redisbroker.NewCluster(cc, opts, 0)
		if err != nil {
			panic(err) // the prefix is a constant without braces
		}
		return b
	}
	c, ok := rc.(*redis.Client)
	if !ok {
		panic(fmt.Sprintf("redis client of type %T: neither a cluster nor a single node", rc))
	}
	return redisbroker.New(c, opts)
}
