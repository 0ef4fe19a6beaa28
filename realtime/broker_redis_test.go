package realtime_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"circly/internal/testdb"
	"circly/internal/testredis"
	"circly/metrics"
	"circly/realtime"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// Short health-check settings make link-loss tests quick; they are not what production uses.
var fastHealth = realtime.RedisOptions{
	PingInterval: 100 * time.Millisecond,
	PingTimeout:  600 * time.Millisecond,
	MaxBackoff:   200 * time.Millisecond,
}

// sharedRedis is a client of the Redis named by CIRCLY_TEST_REDIS_URL (skips, or fails when
// CIRCLY_REQUIRE_REDIS=1, if none answers). Tests there keep to their own channel prefix.
func sharedRedis(t *testing.T) *redis.Client { return sharedRedisProtocol(t, 3) }

func sharedRedisProtocol(t *testing.T, protocol int) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(testdb.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	opts.PoolSize, opts.Protocol = 4, protocol
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func uniquePrefix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "circlytest:" + hex.EncodeToString(b) + ":"
}

func newRedisBroker(t *testing.T, c *redis.Client, prefix string) *realtime.RedisBroker {
	opts := fastHealth
	opts.Prefix = prefix
	return newRedisBrokerOpts(t, c, opts)
}

func newRedisBrokerOpts(t *testing.T, c *redis.Client, opts realtime.RedisOptions) *realtime.RedisBroker {
	b := realtime.NewRedisBroker(c, opts)
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func startRedisBroker(t *testing.T, b *realtime.RedisBroker) *recorder {
	t.Helper()
	rec := newRecorder()
	if err := b.Start(context.Background(), rec); err != nil {
		t.Fatalf("start: %v", err)
	}
	return rec
}

func TestRedisBrokerTwoInstances(t *testing.T) {
	c := sharedRedis(t)
	prefix := uniquePrefix()
	a, b := newRedisBroker(t, c, prefix), newRedisBroker(t, c, prefix)
	recA, recB := startRedisBroker(t, a), startRedisBroker(t, b)
	mustSubscribe(t, a, "poll:x")
	mustSubscribe(t, b, "poll:x", "poll:only-b")

	mustPublish(t, a, tallyMsg("poll:x", 1))
	recA.waitCount(t, "poll:x", 1) // its own publication too
	recB.waitCount(t, "poll:x", 1)
	mustPublish(t, a, tallyMsg("poll:only-b", 1))
	recB.waitCount(t, "poll:only-b", 1)
	mustPublish(t, b, tallyMsg("poll:x", 2))
	recA.waitCount(t, "poll:x", 2)
	recB.waitCount(t, "poll:x", 2)
	if n := recA.count("poll:only-b"); n != 0 {
		t.Fatalf("A got %d messages of a channel only B subscribed", n)
	}

	// A closed instance hears nothing more; the other goes on.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	mustPublish(t, b, tallyMsg("poll:x", 3))
	recB.waitCount(t, "poll:x", 3)
	if n := recA.count("poll:x"); n != 2 {
		t.Fatalf("closed A got %d messages, want 2", n)
	}
}

func TestRedisBrokerPrefixIsolation(t *testing.T) {
	c := sharedRedis(t)
	a, b := newRedisBroker(t, c, uniquePrefix()), newRedisBroker(t, c, uniquePrefix())
	recA, recB := startRedisBroker(t, a), startRedisBroker(t, b)
	mustSubscribe(t, a, "poll:same")
	mustSubscribe(t, b, "poll:same")

	mustPublish(t, a, tallyMsg("poll:same", 1))
	recA.waitCount(t, "poll:same", 1)
	mustPublish(t, b, tallyMsg("poll:same", 2)) // B's own: a sentinel published after A's
	recB.waitCount(t, "poll:same", 1)
	if got := recB.versions("poll:same"); len(got) != 1 || got[0] != 2 {
		t.Fatalf("B got versions %v, want only its own [2]", got)
	}
	if got := recA.versions("poll:same"); len(got) != 1 || got[0] != 1 {
		t.Fatalf("A got versions %v, want only its own [1]", got)
	}
}

// TestRedisBrokerRestart stops the Redis server under a subscribed broker and starts it again:
// the broker must notice, re-subscribe by itself and report the recovery exactly once.
func TestRedisBrokerRestart(t *testing.T) {
	srv := testredis.New(t)
	core, logs := observer.New(zap.InfoLevel)
	opts := fastHealth
	opts.Prefix, opts.Logger = "circly:", zap.New(core)
	b := newRedisBrokerOpts(t, srv.Client(), opts)
	rec := startRedisBroker(t, b)
	before := testutil.ToFloat64(metrics.BrokerReconnects)

	mustSubscribe(t, b, "poll:a", "circle:b")
	mustPublish(t, b, tallyMsg("poll:a", 1))
	rec.waitCount(t, "poll:a", 1)

	srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	err := b.Publish(ctx, tallyMsg("poll:a", 2))
	cancel()
	if err == nil {
		t.Log("publish while Redis is down reported no error (the message is lost either way)")
	}
	waitLog(t, logs, "realtime redis link lost; reconnecting")

	// Subscribing while the link is down neither fails nor hangs; the recovery takes it.
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
	if err := b.Subscribe(ctx, "user:c"); err != nil {
		t.Fatalf("subscribe while down: %v", err)
	}
	cancel()

	srv.Start()
	rec.waitReconnects(t, 1)
	// The client's pool may still hold its last dial error for a moment (go-redis re-dials in
	// the background): publishers retry or lose the message, the broker is already back.
	for i, ch := range []string{"poll:a", "circle:b", "user:c"} {
		publishEventually(t, b, tallyMsg(ch, 10+i))
	}
	rec.waitCount(t, "user:c", 1)
	rec.waitCount(t, "circle:b", 1)
	if got := rec.versions("poll:a"); got[len(got)-1] != 10 {
		t.Fatalf("poll:a versions %v: the message after recovery did not arrive", got)
	}
	if n := rec.reconnectCount(); n != 1 {
		t.Fatalf("HandleReconnect called %d times for one recovery", n)
	}
	if d := testutil.ToFloat64(metrics.BrokerReconnects) - before; d != 1 {
		t.Fatalf("realtime_broker_reconnects_total rose by %v, want 1", d)
	}
	restored := waitLog(t, logs, "realtime redis link restored")
	if _, ok := restored.ContextMap()["down"]; !ok {
		t.Fatalf("recovery log lacks the downtime: %v", restored.ContextMap())
	}
}

// TestRedisBrokerSilentLink freezes the server: TCP stays up but nothing answers. Only the
// health check can notice; after the thaw the broker recovers once.
func TestRedisBrokerSilentLink(t *testing.T) {
	srv := testredis.New(t)
	core, logs := observer.New(zap.InfoLevel)
	opts := fastHealth
	opts.Logger = zap.New(core)
	b := newRedisBrokerOpts(t, srv.Client(), opts)
	rec := startRedisBroker(t, b)
	mustSubscribe(t, b, "poll:s")

	srv.Freeze()
	waitLog(t, logs, "realtime redis link lost; reconnecting")
	srv.Thaw()

	rec.waitReconnects(t, 1)
	publishEventually(t, b, tallyMsg("poll:s", 1))
	rec.waitCount(t, "poll:s", 1)
	if n := rec.reconnectCount(); n != 1 {
		t.Fatalf("HandleReconnect called %d times for one recovery", n)
	}
}

// TestRedisBrokerConnectionKilled has the server drop the pub/sub connection (as a proxy or a
// network blip would) while Redis itself stays up.
func TestRedisBrokerConnectionKilled(t *testing.T) {
	srv := testredis.New(t)
	c := srv.Client()
	b := newRedisBroker(t, c, "")
	rec := startRedisBroker(t, b)
	mustSubscribe(t, b, "poll:k")

	if err := c.ClientKillByFilter(context.Background(), "TYPE", "pubsub").Err(); err != nil {
		t.Fatalf("client kill: %v", err)
	}
	rec.waitReconnects(t, 1)
	publishEventually(t, b, tallyMsg("poll:k", 1))
	rec.waitCount(t, "poll:k", 1)
	if n := rec.reconnectCount(); n != 1 {
		t.Fatalf("HandleReconnect called %d times for one recovery", n)
	}
}

// TestRedisBrokerReconnectStorm subscribes 19,000 channels one call at a time from many
// goroutines (a replica whose clients all reconnect at once), restarts Redis, and checks that
// every channel is subscribed again.
func TestRedisBrokerReconnectStorm(t *testing.T) {
	if testing.Short() {
		t.Skip("storm test skipped in -short mode")
	}
	srv := testredis.New(t)
	c := srv.Client()
	b := newRedisBroker(t, c, "")
	rec := startRedisBroker(t, b)

	const n = 19000
	channels := make([]string, n)
	for i := range channels {
		channels[i] = realtime.PollChannel(strconv.Itoa(i))
	}
	began := time.Now()
	parallel(t, 64, func(g int) error {
		for i := g; i < n; i += 64 {
			if err := b.Subscribe(context.Background(), channels[i]); err != nil {
				return err
			}
		}
		return nil
	})
	t.Logf("%d channels subscribed one call at a time by 64 goroutines in %s", n, time.Since(began).Round(time.Millisecond))
	if got := b.SubscribedCount(); got != n {
		t.Fatalf("SubscribedCount = %d, want %d", got, n)
	}
	if got := c.PubSubNumSub(context.Background(), channels[0], channels[n-1]).Val(); got[channels[0]] != 1 || got[channels[n-1]] != 1 {
		t.Fatalf("NUMSUB before restart = %v", got)
	}

	srv.Stop()
	restarted := time.Now()
	srv.Start()
	rec.waitReconnects(t, 1)
	t.Logf("re-subscribed %d channels %s after the restart began", n, time.Since(restarted).Round(time.Millisecond))

	pipe := c.Pipeline()
	for i, ch := range channels {
		pipe.Publish(context.Background(), ch, `{"ch":"`+ch+`","k":1,"v":`+strconv.Itoa(i)+`}`)
	}
	if _, err := pipe.Exec(context.Background()); err != nil {
		t.Fatalf("publish: %v", err)
	}
	rec.waitTotal(t, n)
	for _, ch := range []string{channels[0], channels[n/2], channels[n-1]} {
		if rec.count(ch) != 1 {
			t.Fatalf("%s got %d messages, want 1", ch, rec.count(ch))
		}
	}
}

func TestRedisBrokerStartFailsWithoutRedis(t *testing.T) {
	srv := testredis.New(t)
	c := srv.Client()
	srv.Stop()
	opts := fastHealth
	b := realtime.NewRedisBroker(c, opts)
	if err := b.Start(context.Background(), newRecorder()); err == nil {
		t.Fatal("Start succeeded with Redis down")
	}
	assertNoBrokerGoroutines(t)
	if err := b.Subscribe(context.Background(), "poll:x"); err == nil {
		t.Fatal("a broker whose Start failed still takes subscriptions")
	}
}

// TestRedisBrokerCloseLeavesNothing checks that Close returns only when every goroutine of the
// broker has ended, while the link is up and while it is down.
func TestRedisBrokerCloseLeavesNothing(t *testing.T) {
	srv := testredis.New(t)
	c := srv.Client()

	up := newRedisBroker(t, c, "")
	startRedisBroker(t, up)
	mustSubscribe(t, up, "poll:1", "poll:2")
	if err := up.Close(); err != nil {
		t.Fatal(err)
	}
	assertNoBrokerGoroutines(t)

	down := newRedisBroker(t, c, "")
	startRedisBroker(t, down)
	srv.Stop()
	time.Sleep(3 * fastHealth.PingTimeout) // let it notice and start retrying
	if err := down.Close(); err != nil {
		t.Fatal(err)
	}
	assertNoBrokerGoroutines(t)
}

// TestRedisBrokerStopsWithContext ends delivery when Start's context ends.
func TestRedisBrokerStopsWithContext(t *testing.T) {
	c := sharedRedis(t)
	b := newRedisBroker(t, c, uniquePrefix())
	ctx, cancel := context.WithCancel(context.Background())
	if err := b.Start(ctx, newRecorder()); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	assertNoBrokerGoroutines(t)
}

// assertNoBrokerGoroutines fails when a goroutine still runs code of the Redis broker.
func assertNoBrokerGoroutines(t *testing.T) {
	t.Helper()
	var stacks string
	ok := eventuallyWithin(2*time.Second, func() bool {
		buf := make([]byte, 1<<20)
		stacks = string(buf[:runtime.Stack(buf, true)])
		return !strings.Contains(stacks, "realtime.(*RedisBroker)")
	})
	if !ok {
		t.Fatalf("goroutines of the broker outlived Close:\n%s", stacks)
	}
}

func eventuallyWithin(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

func waitLog(t *testing.T, logs *observer.ObservedLogs, msg string) observer.LoggedEntry {
	t.Helper()
	var found []observer.LoggedEntry
	if !eventually(func() bool { found = logs.FilterMessage(msg).All(); return len(found) > 0 }) {
		t.Fatalf("no log %q after %s; logs: %v", msg, waitLimit, logs.All())
	}
	return found[0]
}

func publishEventually(t *testing.T, b realtime.Broker, m realtime.Message) {
	t.Helper()
	var err error
	if !eventually(func() bool { err = b.Publish(context.Background(), m); return err == nil }) {
		t.Fatalf("publish on %s: %v", m.Channel, err)
	}
}

// TestRedisBrokerUnsubscribeDropsQueued: messages Redis sent before it processed UNSUBSCRIBE
// are still in the socket; the broker must drop them rather than deliver a channel the hub has
// left (at most one delivery already under way may finish).
func TestRedisBrokerUnsubscribeDropsQueued(t *testing.T) {
	c := sharedRedis(t)
	prefix := uniquePrefix()
	a, pub := newRedisBroker(t, c, prefix), newRedisBroker(t, c, prefix)
	rec := startRedisBroker(t, a)
	mustSubscribe(t, a, "poll:flood", "poll:sentinel")

	const n = 3000
	pipe := c.Pipeline()
	for i := range n {
		pipe.Publish(context.Background(), prefix+"poll:flood", `{"ch":"poll:flood","k":1,"v":`+strconv.Itoa(i)+`}`)
	}
	if _, err := pipe.Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec.waitCount(t, "poll:flood", 1)
	if err := a.Unsubscribe(context.Background(), "poll:flood"); err != nil {
		t.Fatal(err)
	}
	after := rec.count("poll:flood")
	mustPublish(t, pub, tallyMsg("poll:sentinel", 1))
	rec.waitCount(t, "poll:sentinel", 1)
	if got := rec.count("poll:flood"); got > after+1 {
		t.Fatalf("%d messages delivered after Unsubscribe returned (%d before)", got-after, after)
	}
	if after == n {
		t.Log("the whole flood was delivered before Unsubscribe: nothing left to drop this run")
	}
}
