package redisbroker_test

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
	"circly/realtime"
	"circly/realtime/brokertest"
	"circly/redisbroker"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestRedisBroker(t *testing.T) {
	// The suite every broker passes, on Redis, in both protocols: pub/sub replies differ
	// between RESP2 (arrays) and RESP3 (pushes).
	for _, protocol := range []int{3, 2} {
		t.Run("resp"+strconv.Itoa(protocol), func(t *testing.T) {
			brokertest.Run(t, func(t *testing.T) realtime.Broker {
				// Production health settings: the suite asserts that no reconnect happens, and
				// a loaded CI machine must not fake a link loss.
				opts := redisbroker.Options{Prefix: uniquePrefix()}
				return newRedisBrokerOpts(t, sharedRedisProtocol(t, protocol), opts)
			})
		})
	}
}

// Short health-check settings make link-loss tests quick; they are not what production uses.
var fastHealth = redisbroker.Options{
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

func newRedisBroker(t *testing.T, c *redis.Client, prefix string) *redisbroker.Broker {
	opts := fastHealth
	opts.Prefix = prefix
	return newRedisBrokerOpts(t, c, opts)
}

func newRedisBrokerOpts(t *testing.T, c *redis.Client, opts redisbroker.Options) *redisbroker.Broker {
	b := redisbroker.New(c, opts)
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func startRedisBroker(t *testing.T, b *redisbroker.Broker) *brokertest.Recorder {
	t.Helper()
	rec := brokertest.NewRecorder()
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
	brokertest.MustSubscribe(t, a, "poll:x")
	brokertest.MustSubscribe(t, b, "poll:x", "poll:only-b")

	brokertest.MustPublish(t, a, brokertest.TallyMsg("poll:x", 1))
	recA.WaitCount(t, "poll:x", 1) // its own publication too
	recB.WaitCount(t, "poll:x", 1)
	brokertest.MustPublish(t, a, brokertest.TallyMsg("poll:only-b", 1))
	recB.WaitCount(t, "poll:only-b", 1)
	brokertest.MustPublish(t, b, brokertest.TallyMsg("poll:x", 2))
	recA.WaitCount(t, "poll:x", 2)
	recB.WaitCount(t, "poll:x", 2)
	if n := recA.Count("poll:only-b"); n != 0 {
		t.Fatalf("A got %d messages of a channel only B subscribed", n)
	}

	// A closed instance hears nothing more; the other goes on.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	brokertest.MustPublish(t, b, brokertest.TallyMsg("poll:x", 3))
	recB.WaitCount(t, "poll:x", 3)
	if n := recA.Count("poll:x"); n != 2 {
		t.Fatalf("closed A got %d messages, want 2", n)
	}
}

func TestRedisBrokerPrefixIsolation(t *testing.T) {
	c := sharedRedis(t)
	a, b := newRedisBroker(t, c, uniquePrefix()), newRedisBroker(t, c, uniquePrefix())
	recA, recB := startRedisBroker(t, a), startRedisBroker(t, b)
	brokertest.MustSubscribe(t, a, "poll:same")
	brokertest.MustSubscribe(t, b, "poll:same")

	brokertest.MustPublish(t, a, brokertest.TallyMsg("poll:same", 1))
	recA.WaitCount(t, "poll:same", 1)
	brokertest.MustPublish(t, b, brokertest.TallyMsg("poll:same", 2)) // B's own: a sentinel published after A's
	recB.WaitCount(t, "poll:same", 1)
	if got := recB.Versions("poll:same"); len(got) != 1 || got[0] != 2 {
		t.Fatalf("B got versions %v, want only its own [2]", got)
	}
	if got := recA.Versions("poll:same"); len(got) != 1 || got[0] != 1 {
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

	brokertest.MustSubscribe(t, b, "poll:a", "circle:b")
	brokertest.MustPublish(t, b, brokertest.TallyMsg("poll:a", 1))
	rec.WaitCount(t, "poll:a", 1)

	srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	err := b.Publish(ctx, brokertest.TallyMsg("poll:a", 2))
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
	rec.WaitReconnects(t, 1)
	// The client's pool may still hold its last dial error for a moment (go-redis re-dials in
	// the background): publishers retry or lose the message, the broker is already back.
	for i, ch := range []string{"poll:a", "circle:b", "user:c"} {
		publishEventually(t, b, brokertest.TallyMsg(ch, 10+i))
	}
	rec.WaitCount(t, "user:c", 1)
	rec.WaitCount(t, "circle:b", 1)
	if got := rec.Versions("poll:a"); got[len(got)-1] != 10 {
		t.Fatalf("poll:a versions %v: the message after recovery did not arrive", got)
	}
	if n := rec.ReconnectCount(); n != 1 {
		t.Fatalf("HandleReconnect called %d times for one recovery", n)
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
	brokertest.MustSubscribe(t, b, "poll:s")

	srv.Freeze()
	waitLog(t, logs, "realtime redis link lost; reconnecting")
	srv.Thaw()

	rec.WaitReconnects(t, 1)
	publishEventually(t, b, brokertest.TallyMsg("poll:s", 1))
	rec.WaitCount(t, "poll:s", 1)
	if n := rec.ReconnectCount(); n != 1 {
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
	brokertest.MustSubscribe(t, b, "poll:k")

	if err := c.ClientKillByFilter(context.Background(), "TYPE", "pubsub").Err(); err != nil {
		t.Fatalf("client kill: %v", err)
	}
	rec.WaitReconnects(t, 1)
	publishEventually(t, b, brokertest.TallyMsg("poll:k", 1))
	rec.WaitCount(t, "poll:k", 1)
	if n := rec.ReconnectCount(); n != 1 {
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
	brokertest.Parallel(t, 64, func(g int) error {
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
	rec.WaitReconnects(t, 1)
	t.Logf("re-subscribed %d channels %s after the restart began", n, time.Since(restarted).Round(time.Millisecond))

	pipe := c.Pipeline()
	for i, ch := range channels {
		pipe.Publish(context.Background(), ch, `{"ch":"`+ch+`","k":1,"v":`+strconv.Itoa(i)+`}`)
	}
	if _, err := pipe.Exec(context.Background()); err != nil {
		t.Fatalf("publish: %v", err)
	}
	rec.WaitTotal(t, n)
	for _, ch := range []string{channels[0], channels[n/2], channels[n-1]} {
		if rec.Count(ch) != 1 {
			t.Fatalf("%s got %d messages, want 1", ch, rec.Count(ch))
		}
	}
}

func TestRedisBrokerStartFailsWithoutRedis(t *testing.T) {
	srv := testredis.New(t)
	c := srv.Client()
	srv.Stop()
	opts := fastHealth
	b := redisbroker.New(c, opts)
	if err := b.Start(context.Background(), brokertest.NewRecorder()); err == nil {
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
	brokertest.MustSubscribe(t, up, "poll:1", "poll:2")
	if err := up.Close(); err != nil {
		t.Fatal(err)
	}
	assertNoBrokerGoroutines(t)

	// Frozen: reconnect attempts hang in the dial and handshake, and Close must still end them.
	frozen := newRedisBroker(t, c, "")
	startRedisBroker(t, frozen)
	brokertest.MustSubscribe(t, frozen, "poll:1")
	srv.Freeze()
	time.Sleep(3 * fastHealth.PingTimeout)
	began := time.Now()
	if err := frozen.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Close with Redis frozen took %s", time.Since(began).Round(time.Millisecond))
	assertNoBrokerGoroutines(t)
	srv.Thaw()

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
	if err := b.Start(ctx, brokertest.NewRecorder()); err != nil {
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
	if !brokertest.Eventually(func() bool { found = logs.FilterMessage(msg).All(); return len(found) > 0 }) {
		t.Fatalf("no log %q after %s; logs: %v", msg, brokertest.WaitLimit, logs.All())
	}
	return found[0]
}

func publishEventually(t *testing.T, b realtime.Broker, m realtime.Message) {
	t.Helper()
	var err error
	if !brokertest.Eventually(func() bool { err = b.Publish(context.Background(), m); return err == nil }) {
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
	brokertest.MustSubscribe(t, a, "poll:flood", "poll:sentinel")

	const n = 3000
	pipe := c.Pipeline()
	for i := range n {
		pipe.Publish(context.Background(), prefix+"poll:flood", `{"ch":"poll:flood","k":1,"v":`+strconv.Itoa(i)+`}`)
	}
	if _, err := pipe.Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec.WaitCount(t, "poll:flood", 1)
	if err := a.Unsubscribe(context.Background(), "poll:flood"); err != nil {
		t.Fatal(err)
	}
	after := rec.Count("poll:flood")
	brokertest.MustPublish(t, pub, brokertest.TallyMsg("poll:sentinel", 1))
	rec.WaitCount(t, "poll:sentinel", 1)
	if got := rec.Count("poll:flood"); got > after+1 {
		t.Fatalf("%d messages delivered after Unsubscribe returned (%d before)", got-after, after)
	}
	if after == n {
		t.Log("the whole flood was delivered before Unsubscribe: nothing left to drop this run")
	}
}
