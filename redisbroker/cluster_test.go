package redisbroker_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"circly/internal/testrediscluster"
	"circly/realtime"
	"circly/realtime/brokertest"
	"circly/redisbroker"

	"github.com/redis/go-redis/v9"
)

// TestClusterBroker runs the suite every broker passes on a real 3-master Redis Cluster.
func TestClusterBroker(t *testing.T) {
	cluster := testrediscluster.New(t, 3)
	client := cluster.Client()
	brokertest.Run(t, func(t *testing.T) realtime.Broker {
		return newClusterBroker(t, client, redisbroker.Options{Prefix: uniquePrefix()})
	})
}

func newClusterBroker(t *testing.T, c *redis.ClusterClient, opts redisbroker.Options) *redisbroker.ClusterBroker {
	t.Helper()
	b, err := redisbroker.NewCluster(c, opts, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// TestClusterBrokerTwoInstances: two replicas meet on every shard, and the traffic is sharded:
// no classic pub/sub channel is used.
func TestClusterBrokerTwoInstances(t *testing.T) {
	cluster := testrediscluster.New(t, 3)
	client := cluster.Client()
	prefix := uniquePrefix()
	a := newClusterBroker(t, client, redisbroker.Options{Prefix: prefix})
	b := newClusterBroker(t, client, redisbroker.Options{Prefix: prefix})
	recA, recB := brokertest.NewRecorder(), brokertest.NewRecorder()
	ctx := context.Background()
	if err := a.Start(ctx, recA); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(ctx, recB); err != nil {
		t.Fatal(err)
	}
	var channels []string
	for _, id := range []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"} {
		channels = append(channels, realtime.PollChannel(id))
	}
	brokertest.MustSubscribe(t, b, channels...)
	for _, ch := range channels {
		brokertest.MustPublish(t, a, brokertest.TallyMsg(ch, 1))
	}
	for _, ch := range channels {
		recB.WaitCount(t, ch, 1)
	}
	if n := recA.TotalCount(); n != 0 {
		t.Fatalf("A got %d messages without subscribing", n)
	}
	err := client.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		if chs := m.PubSubChannels(ctx, "*").Val(); len(chs) != 0 {
			t.Errorf("node %s has classic channels %v", m.Options().Addr, chs)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestNewClusterRejectsBracesInPrefix(t *testing.T) {
	if _, err := redisbroker.NewCluster(nil, redisbroker.Options{Prefix: "a{b}:"}, 0); err == nil {
		t.Fatal("a prefix with braces was accepted")
	}
}

// TestClusterBrokerFailover kills the master serving a subscribed shard of a 3-master,
// 3-replica cluster: the shard reconnects to the promoted replica, HandleReconnect runs (the
// hub re-reads its snapshots) and delivery goes on, on that shard and on the others.
func TestClusterBrokerFailover(t *testing.T) {
	cluster := testrediscluster.NewWithReplicas(t, 3, 1)
	client := cluster.Client()
	opts := fastHealth
	opts.Prefix = "circly:"
	b := newClusterBroker(t, client, opts)
	rec := brokertest.NewRecorder()
	if err := b.Start(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	var channels []string
	for i := range 12 {
		channels = append(channels, realtime.PollChannel(strconv.Itoa(i)))
	}
	brokertest.MustSubscribe(t, b, channels...)
	for _, ch := range channels {
		brokertest.MustPublish(t, b, brokertest.TallyMsg(ch, 1))
		rec.WaitCount(t, ch, 1)
	}

	// The Redis channel of poll:0 is named with its shard's hash tag: kill the master of that tag.
	cluster.KillMasterOf(b.RedisChannel(channels[0]))

	rec.WaitReconnects(t, 1)
	// A shard on the dead master hears nothing until it has re-subscribed on the new one (the
	// hub's re-read covers that gap): publish until each channel hears a version after the kill.
	for _, ch := range channels {
		v := 2
		ok := brokertest.Eventually(func() bool {
			_ = b.Publish(context.Background(), brokertest.TallyMsg(ch, v))
			v++
			time.Sleep(50 * time.Millisecond)
			got := rec.Versions(ch)
			return got[len(got)-1] >= 2
		})
		if !ok {
			t.Fatalf("%s: nothing delivered after the failover (versions %v)", ch, rec.Versions(ch))
		}
	}
	t.Logf("%d shard reconnects after the failover", rec.ReconnectCount())
}

// TestClusterBrokerSlotMove reshards the slot of a subscribed shard to another master while
// both brokers run: Redis drops the shard's subscriptions on the old owner, the shard
// reconnects to the new one, HandleReconnect runs, and delivery goes on.
func TestClusterBrokerSlotMove(t *testing.T) {
	cluster := testrediscluster.New(t, 3)
	client := cluster.Client()
	opts := fastHealth
	opts.Prefix = uniquePrefix()
	pub := newClusterBroker(t, client, opts)
	sub := newClusterBroker(t, client, opts)
	rec := &partialRecorder{Recorder: brokertest.NewRecorder()}
	ctx := context.Background()
	if err := pub.Start(ctx, brokertest.NewRecorder()); err != nil {
		t.Fatal(err)
	}
	if err := sub.Start(ctx, rec); err != nil {
		t.Fatal(err)
	}
	ch := realtime.PollChannel("moving")
	brokertest.MustSubscribe(t, sub, ch)
	brokertest.MustPublish(t, pub, brokertest.TallyMsg(ch, 1))
	rec.WaitCount(t, ch, 1)

	owner := cluster.MoveSlotOf(sub.RedisChannel(ch))
	rec.WaitReconnects(t, 1)
	v := 2
	ok := brokertest.Eventually(func() bool {
		_ = pub.Publish(ctx, brokertest.TallyMsg(ch, v))
		v++
		time.Sleep(50 * time.Millisecond)
		got := rec.Versions(ch)
		return got[len(got)-1] >= 2
	})
	if !ok {
		t.Fatalf("nothing delivered after the slot moved to %s (versions %v)", owner, rec.Versions(ch))
	}
	// The recovery named the moved shard's channels only: a channel on another shard is not
	// re-read.
	other := ""
	for i := 0; other == ""; i++ {
		if c := realtime.PollChannel(strconv.Itoa(i)); hashTag(sub.RedisChannel(c)) != hashTag(sub.RedisChannel(ch)) {
			other = c
		}
	}
	carries := rec.only(t)
	if !carries(ch) || carries(other) {
		t.Fatalf("partial recovery carries %s: %v, %s: %v; want true, false", ch, carries(ch), other, carries(other))
	}
}

// partialRecorder is a brokertest.Recorder that takes partial recoveries and keeps what each
// one named.
type partialRecorder struct {
	*brokertest.Recorder
	mu      sync.Mutex
	carries []func(string) bool
}

func (r *partialRecorder) HandleReconnectOf(carries func(string) bool) {
	r.mu.Lock()
	r.carries = append(r.carries, carries)
	r.mu.Unlock()
	r.HandleReconnect() // the embedded Recorder's: it counts the recovery
}

// only is the one partial recovery recorded.
func (r *partialRecorder) only(t *testing.T) func(string) bool {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.carries) != 1 {
		t.Fatalf("%d partial recoveries, want 1", len(r.carries))
	}
	return r.carries[0]
}

func hashTag(redisChannel string) string { return strings.SplitN(redisChannel, "}", 2)[0] }

// TestClusterShardsSpreadEvenly: on a 3-master cluster (slots split evenly, as `redis-cli
// --cluster create` does), the 16 shards land 5, 5 and 6 on the masters, as the server sees it.
func TestClusterShardsSpreadEvenly(t *testing.T) {
	cluster := testrediscluster.New(t, 3)
	client := cluster.Client()
	b := newClusterBroker(t, client, redisbroker.Options{Prefix: "circly:"})
	ctx := context.Background()
	perMaster := map[string]int{}
	tags := map[string]bool{}
	for k := 0; len(tags) < redisbroker.DefaultShards && k < 10000; k++ {
		name := b.RedisChannel(realtime.PollChannel(strconv.Itoa(k)))
		if tag := hashTag(name); !tags[tag] {
			tags[tag] = true
			slot, err := client.ClusterKeySlot(ctx, name).Result() // the server's own hashing
			if err != nil {
				t.Fatal(err)
			}
			perMaster[cluster.OwnerOfSlot(int(slot))]++
		}
	}
	if len(tags) != redisbroker.DefaultShards {
		t.Fatalf("found %d shards, want %d", len(tags), redisbroker.DefaultShards)
	}
	lo, hi := redisbroker.DefaultShards, 0
	for _, n := range perMaster {
		lo, hi = min(lo, n), max(hi, n)
	}
	if len(perMaster) != 3 || hi-lo > 1 {
		t.Fatalf("shards per master %v, want 5, 5 and 6", perMaster)
	}
}
