package redisbroker

// The Redis Cluster broker: sharded pub/sub (SSUBSCRIBE/SPUBLISH, Redis 7), so a channel's
// messages travel only through the master that owns its slot instead of being broadcast to
// every node as classic PUBLISH is.

import (
	"circly/realtime"

	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// DefaultShards is how many shards a ClusterBroker spreads its channels over: enough to use
// every master of a usual cluster, few enough that each replica holds few connections.
const DefaultShards = 16

// shardMarker is subscribed first on every shard's connection and never left: it binds the
// connection to the node owning the shard's slot, and its loss tells that the slot moved.
const shardMarker = "~shard"

var _ realtime.Broker = (*ClusterBroker)(nil)

// ClusterBroker is the realtime.Broker on a Redis Cluster. Each channel belongs to one of a
// fixed number of shards; shard i's channels are named with the hash tag {prefix:si.j}, so they
// share one slot and one pub/sub connection (a Broker of its own, with the same ping health
// check, re-subscription and HandleReconnect after a loss, a failover or a slot move).
// Every replica maps a channel to the same shard, so publisher and subscribers meet.
type ClusterBroker struct {
	shards []*Broker
}

// NewCluster returns a broker on the cluster with n shards (DefaultShards when n <= 0). The
// client stays the caller's. opts.Prefix must not contain braces: the shard's hash tag
// must be the first one in every channel name.
func NewCluster(client *redis.ClusterClient, opts Options, n int) (*ClusterBroker, error) {
	if strings.ContainsAny(opts.Prefix, "{}") {
		return nil, fmt.Errorf("realtime: redis cluster channel prefix %q must not contain braces", opts.Prefix)
	}
	if n <= 0 {
		n = DefaultShards
	}
	c := &ClusterBroker{shards: make([]*Broker, n)}
	for i := range c.shards {
		shardOpts := opts
		shardOpts.Prefix = "{" + shardTag(opts.Prefix, i, n) + "}:"
		b := New(nil, shardOpts)
		b.client, b.sharded = client, true
		c.shards[i] = b
	}
	return c, nil
}

// clusterSlots is how many hash slots a Redis Cluster has.
const clusterSlots = 16384

// shardTag is shard i's hash tag: the prefix, "s<i>." and the first number that puts the tag in
// the i-th of n equal slot ranges. The shards then spread evenly over any even split of the
// slots between masters (16 shards on 3 masters: 5, 5 and 6), where names hashed at random gave
// one master 8 of them. Every replica computes the same tags.
func shardTag(prefix string, i, n int) string {
	lo, hi := i*clusterSlots/n, (i+1)*clusterSlots/n
	for j := 0; ; j++ {
		tag := prefix + "s" + strconv.Itoa(i) + "." + strconv.Itoa(j)
		if s := int(crc16(tag)) % clusterSlots; s >= lo && s < hi {
			return tag
		}
	}
}

// crc16 is the checksum Redis Cluster maps keys to slots with (CRC-16/XMODEM: polynomial
// 0x1021, initial value 0).
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// shardOf maps a channel to its shard, the same way on every replica.
func (c *ClusterBroker) shardOf(channel string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(channel))
	return int(h.Sum32() % uint32(len(c.shards)))
}

// Start implements Broker: every shard connects before it returns; if one cannot, all close.
// Each shard reports its own recoveries: to h.HandleReconnectOf with its channels when h is a
// realtime.PartialHandler, else to h.HandleReconnect.
func (c *ClusterBroker) Start(ctx context.Context, h realtime.Handler) error {
	errs := make([]error, len(c.shards))
	var wg sync.WaitGroup
	for i, b := range c.shards {
		wg.Add(1)
		sh := shardHandler{Handler: h, carries: func(ch string) bool { return c.shardOf(ch) == i }}
		go func() { defer wg.Done(); errs[i] = b.Start(ctx, sh) }()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		_ = c.Close()
		return err
	}
	return nil
}

// shardHandler is what one shard delivers to: the messages as they come, and a recovery
// narrowed to the shard's own channels where the handler can take that.
type shardHandler struct {
	realtime.Handler
	carries func(channel string) bool
}

func (s shardHandler) HandleReconnect() {
	if p, ok := s.Handler.(realtime.PartialHandler); ok {
		p.HandleReconnectOf(s.carries)
		return
	}
	s.Handler.HandleReconnect()
}

// Publish implements Broker, on the channel's shard.
func (c *ClusterBroker) Publish(ctx context.Context, m realtime.Message) error {
	return c.shards[c.shardOf(m.Channel)].Publish(ctx, m)
}

// Subscribe implements Broker: each shard takes its channels, all shards at once.
func (c *ClusterBroker) Subscribe(ctx context.Context, channels ...string) error {
	return c.eachShard(channels, func(b *Broker, chs []string) error { return b.Subscribe(ctx, chs...) })
}

// Unsubscribe implements Broker.
func (c *ClusterBroker) Unsubscribe(ctx context.Context, channels ...string) error {
	return c.eachShard(channels, func(b *Broker, chs []string) error { return b.Unsubscribe(ctx, chs...) })
}

// Close implements Broker.
func (c *ClusterBroker) Close() error {
	for _, b := range c.shards {
		_ = b.Close()
	}
	return nil
}

// RedisChannel is the name channel has on Redis: its shard's hash tag, then the channel.
func (c *ClusterBroker) RedisChannel(channel string) string {
	return c.shards[c.shardOf(channel)].opts.Prefix + channel
}

// SubscribedCount returns how many channels are wanted over all shards.
func (c *ClusterBroker) SubscribedCount() int {
	n := 0
	for _, b := range c.shards {
		n += b.SubscribedCount()
	}
	return n
}

func (c *ClusterBroker) eachShard(channels []string, fn func(*Broker, []string) error) error {
	byShard := make(map[int][]string)
	for _, ch := range channels {
		i := c.shardOf(ch)
		byShard[i] = append(byShard[i], ch)
	}
	if len(byShard) == 1 { // the usual case: one channel, no goroutine
		for i, chs := range byShard {
			return fn(c.shards[i], chs)
		}
	}
	errs := make([]error, 0, len(byShard))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, chs := range byShard {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(c.shards[i], chs); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// reloadSlots has a cluster client re-read which node serves which slot before a shard
// reconnects: after a failover or a slot move, its cached map points at the old node.
func (b *Broker) reloadSlots(ctx context.Context) {
	if cc, ok := b.client.(*redis.ClusterClient); ok && b.sharded {
		cc.ReloadState(ctx)
	}
}
