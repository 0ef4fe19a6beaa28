package hub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"circly/frames"
	"circly/hub"
	"circly/realtime"
)

// subscribe sends a subscribe frame and returns the answer (subscribed or error).
func subscribe(t *testing.T, f *fakeTransport, id int, ch string) map[string]any {
	t.Helper()
	f.send(map[string]any{"type": "subscribe", "id": id, "channel": ch})
	return f.next(t)
}

func expectSubscribed(t *testing.T, m map[string]any, ch string) int {
	t.Helper()
	if m["type"] != "subscribed" || m["channel"] != ch {
		t.Fatalf("got %v, want subscribed to %s", m, ch)
	}
	return frameVersion(t, m)
}

func expectRefused(t *testing.T, m map[string]any, code string) {
	t.Helper()
	if m["type"] != "error" || m["code"] != code {
		t.Fatalf("got %v, want error %s", m, code)
	}
}

func (h *harness) publishRemoval(user, circle string) {
	h.t.Helper()
	m := realtime.Message{Channel: realtime.ControlChannel, Kind: realtime.KindRemoval, UserID: user, CircleID: circle}
	if err := h.broker.Publish(context.Background(), m); err != nil {
		h.t.Fatal(err)
	}
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func waitClosedChan(t *testing.T, c chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// TestCacheManySubscribers: 200 connections of 50 users subscribe one poll while 8 goroutines
// publish tallies. The snapshot is read once and each user authorized once; every connection
// still gets `subscribed` first, versions that never go down, and ends on the highest one.
func TestCacheManySubscribers(t *testing.T) {
	h := newHarness(t, hub.Limits{})
	const users, perUser = 50, 4
	circle, p := uuidN("c", 1), uuidN("p", 1)
	ch := realtime.PollChannel(p)
	h.world.addPoll(p, circle)
	h.world.mu.Lock()
	h.world.delay = 20 * time.Millisecond // misses of one poll overlap
	h.world.mu.Unlock()
	fakes := make([][]*fakeTransport, users)
	for u := range fakes {
		h.world.join(circle, fmt.Sprintf("u%d", u))
		for range perUser {
			fakes[u] = append(fakes[u], h.open(fmt.Sprintf("u%d", u)))
		}
	}
	publish := func(from, to int) *sync.WaitGroup {
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for v := from + g; v <= to; v += 8 {
					h.publishTally(ch, v)
					time.Sleep(100 * time.Microsecond)
				}
			}()
		}
		return &wg
	}
	const top = 400
	var check, first sync.WaitGroup
	first.Add(users)
	for u := range fakes {
		for i, f := range fakes[u] {
			check.Add(1)
			go func() {
				defer check.Done()
				last, subscribed, signaled := 0, false, false
				signal := func() {
					if i == 0 && !signaled {
						signaled = true
						first.Done()
					}
				}
				defer signal()
				for !subscribed || last < top {
					m, ok := f.poll(5 * time.Second)
					if !ok {
						t.Errorf("u%d/%d stuck at %d (subscribed %v)", u, i, last, subscribed)
						return
					}
					switch m["type"] {
					case "subscribed":
						subscribed = true
						signal()
					case "tally":
						if !subscribed {
							t.Errorf("tally before subscribed: %v", m)
							return
						}
					default:
						t.Errorf("unexpected frame %v", m)
						return
					}
					v := frameVersion(t, m)
					if v < last {
						t.Errorf("u%d/%d went from %d to %d", u, i, last, v)
						return
					}
					last = v
				}
			}()
		}
	}
	// The first connection of each user subscribes (all misses), then the other 150 at once.
	pub := publish(1, top/2)
	for u := range fakes {
		fakes[u][0].send(map[string]any{"type": "subscribe", "id": 1, "channel": ch})
	}
	first.Wait()
	pub2 := publish(top/2+1, top)
	for u := range fakes {
		for _, f := range fakes[u][1:] {
			f.send(map[string]any{"type": "subscribe", "id": 1, "channel": ch})
		}
	}
	pub.Wait()
	pub2.Wait()
	check.Wait()
	if n := h.world.snapCalls.Load(); n != 1 {
		t.Errorf("%d snapshot reads for %d subscriptions of one poll, want 1", n, users*perUser)
	}
	if n := h.world.authCalls.Load(); n != users {
		t.Errorf("%d authorizations for %d users, want one each", n, users)
	}
}

// TestCacheDroppedOnReconnect: tallies lost while the broker link was down are in the store
// only; after HandleReconnect a new subscriber gets the store's version even while the
// refresh's own read is still under way.
func TestCacheDroppedOnReconnect(t *testing.T) {
	h := newHarness(t, hub.Limits{})
	ch := onePoll(h, 1, "u1", "u2")
	f1 := h.open("u1")
	if v := expectSubscribed(t, subscribe(t, f1, 1, ch), ch); v != 1 {
		t.Fatalf("subscribed version %d", v)
	}
	h.world.setVersion(ch, 9) // tallies 2..9 were lost with the link
	entered, release := make(chan struct{}), make(chan struct{})
	var held atomic.Bool
	h.world.mu.Lock()
	h.world.onSnap = func(string) {
		if held.CompareAndSwap(false, true) { // the refresh's read: it must not be what helps
			close(entered)
			<-release
		}
	}
	h.world.mu.Unlock()
	h.hub.HandleReconnect()
	waitClosedChan(t, entered, "the refresh's read")
	f2 := h.open("u2")
	v := expectSubscribed(t, subscribe(t, f2, 1, ch), ch)
	close(release)
	if v != 9 {
		t.Fatalf("subscribed after reconnect with version %d, want the store's 9", v)
	}
	if v := frameVersion(t, f1.expect(t, "tally")); v != 9 {
		t.Fatalf("refresh pushed %d, want 9", v)
	}
}

// TestCacheReadAcrossDropNotStored: a read that started before a drop (here a reconnect) is
// not stored: it may predate a tally that was lost.
func TestCacheReadAcrossDropNotStored(t *testing.T) {
	h := newHarness(t, hub.Limits{})
	ch := onePoll(h, 1, "u1", "u2")
	var calls atomic.Int32
	entered := []chan struct{}{make(chan struct{}), make(chan struct{})}
	release := []chan struct{}{make(chan struct{}), make(chan struct{})}
	h.world.mu.Lock()
	h.world.onSnap = func(string) {
		if n := calls.Add(1); n <= 2 { // u1's read, then the refresh's
			close(entered[n-1])
			<-release[n-1]
		}
	}
	h.world.mu.Unlock()
	f1 := h.open("u1")
	f1.send(map[string]any{"type": "subscribe", "id": 1, "channel": ch})
	waitClosedChan(t, entered[0], "u1's read") // it has read version 1
	h.world.setVersion(ch, 9)                  // tallies 2..9 are lost with the link
	h.hub.HandleReconnect()
	waitClosedChan(t, entered[1], "the refresh's read")
	close(release[0])
	expectSubscribed(t, f1.next(t), ch)
	v := expectSubscribed(t, subscribe(t, h.open("u2"), 1, ch), ch)
	close(release[1])
	if v != 9 {
		t.Fatalf("subscribed with version %d, want the store's 9", v)
	}
}

// TestCacheLateTallyNotServed: a tally delivered out of order after this replica subscribed
// (3, while 4 went out before) is not served on its own; the store's read comes first.
func TestCacheLateTallyNotServed(t *testing.T) {
	h := newHarness(t, hub.Limits{})
	ch := onePoll(h, 4, "u1", "u2") // tally 4 went out while nobody here watched
	entered, release := make(chan struct{}), make(chan struct{})
	var held atomic.Bool
	h.world.mu.Lock()
	h.world.onSnap = func(string) {
		if held.CompareAndSwap(false, true) { // u1's read
			if err := h.broker.Publish(context.Background(), realtime.Message{Channel: ch, Kind: realtime.KindTally, Version: 3,
				Type: frames.TypeTally, Data: json.RawMessage(`{"version":3}`)}); err != nil {
				t.Error(err)
			}
			close(entered)
			<-release
		}
	}
	h.world.mu.Unlock()
	f1, f2 := subscribeBehindRead(t, h, ch, entered, release)
	if v := expectSubscribed(t, f1.next(t), ch); v != 4 {
		t.Fatalf("u1 subscribed with version %d", v)
	}
	if v := expectSubscribed(t, f2.next(t), ch); v != 4 {
		t.Fatalf("u2 subscribed with version %d, want the store's 4", v)
	}
}

// TestCacheLeaderFails: subscribers waiting for another's read of the same poll read for
// themselves when that read fails.
func TestCacheLeaderFails(t *testing.T) {
	h := newHarness(t, hub.Limits{})
	ch := onePoll(h, 2, "u1", "u2")
	entered, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	h.world.mu.Lock()
	h.world.onSnap = func(string) {
		if calls.Add(1) == 1 {
			close(entered)
			<-release
		}
	}
	h.world.failSnap = func(string) error {
		if calls.Load() == 1 {
			return context.DeadlineExceeded // u1's read, under an overloaded store
		}
		return nil
	}
	h.world.mu.Unlock()
	f1, f2 := subscribeBehindRead(t, h, ch, entered, release)
	expectRefused(t, f1.next(t), frames.CodeInternal)
	if v := expectSubscribed(t, f2.next(t), ch); v != 2 {
		t.Fatalf("u2 subscribed with version %d", v)
	}
}

// TestCacheDroppedWhenSubscriptionEnds: once the last watcher has left, tallies are no longer
// delivered, so a later subscriber reads the store: also when it reuses the channel while the
// broker unsubscribe is still under way.
func TestCacheDroppedWhenSubscriptionEnds(t *testing.T) {
	h := newHarness(t, hub.Limits{})
	h.world.join("c", "u1")
	h.world.join("c", "u2")
	f1, f2 := h.open("u1"), h.open("u2")

	// Plainly: leave, the store moves on, come back.
	p1 := uuidN("p", 1)
	ch1 := realtime.PollChannel(p1)
	h.world.addPoll(p1, "c")
	h.world.setVersion(ch1, 1)
	expectSubscribed(t, subscribe(t, f1, 1, ch1), ch1)
	f1.send(map[string]any{"type": "unsubscribe", "id": 2, "channel": ch1})
	f1.expect(t, "unsubscribed")
	h.publishTally(ch1, 5) // nobody subscribed: lost
	if v := expectSubscribed(t, subscribe(t, f2, 3, ch1), ch1); v != 5 {
		t.Fatalf("resubscribed with version %d, want 5", v)
	}

	// Reuse: u2 joins the channel while u1's unsubscribe holds it.
	p2 := uuidN("p", 2)
	ch2 := realtime.PollChannel(p2)
	h.world.addPoll(p2, "c")
	h.world.setVersion(ch2, 1)
	expectSubscribed(t, subscribe(t, f1, 4, ch2), ch2)
	entered, release := make(chan struct{}), make(chan struct{})
	h.broker.mu.Lock()
	h.broker.onUnsub = func(c string) {
		if c == ch2 {
			close(entered)
			<-release
		}
	}
	h.broker.mu.Unlock()
	defer func() {
		h.broker.mu.Lock()
		h.broker.onUnsub = nil
		h.broker.mu.Unlock()
	}()
	f1.send(map[string]any{"type": "unsubscribe", "id": 5, "channel": ch2})
	waitClosedChan(t, entered, "the broker unsubscribe")
	h.publishTally(ch2, 7) // the broker no longer delivers it: lost
	f2.send(map[string]any{"type": "subscribe", "id": 6, "channel": ch2})
	waitFor(t, "u2 to watch the channel", func() bool { return hub.WatcherCount(h.hub, ch2) == 1 })
	close(release)
	if v := expectSubscribed(t, f2.next(t), ch2); v != 7 {
		t.Fatalf("subscribed to a reused channel with version %d, want the store's 7", v)
	}
	f1.expect(t, "unsubscribed")
}

// TestCacheDroppedOnPollClosed: after poll_closed a new subscriber gets the store's closed
// snapshot, not the cached open tally of the same version, and the channel is not cached
// again.
func TestCacheDroppedOnPollClosed(t *testing.T) {
	h := newHarness(t, hub.Limits{})
	ch := onePoll(h, 3, "u1", "u2", "u3")
	f1 := h.open("u1")
	expectSubscribed(t, subscribe(t, f1, 1, ch), ch)
	h.world.closePoll(ch)
	if err := h.broker.Publish(context.Background(), realtime.Message{Channel: ch, Kind: realtime.KindFinal, Version: 3,
		Type: frames.TypePollClosed, Data: json.RawMessage(`{"version":3,"is_closed":true}`)}); err != nil {
		t.Fatal(err)
	}
	f1.expect(t, "poll_closed")
	for i, u := range []string{"u2", "u3"} {
		before := h.world.snapCalls.Load()
		m := subscribe(t, h.open(u), 1, ch)
		expectSubscribed(t, m, ch)
		if d, _ := m["data"].(map[string]any); d["is_closed"] != true {
			t.Fatalf("subscriber %d after poll_closed got %v, want the closed snapshot", i+1, m)
		}
		if h.world.snapCalls.Load() == before {
			t.Fatalf("subscriber %d after poll_closed was answered from the cache", i+1)
		}
	}
}

// TestAuthCacheRemoval: a grant is reused, but not after a removal from its circle, neither on
// the same connection nor on a new one; a deleted circle's grants go for every user. Refusals
// are never kept.
func TestAuthCacheRemoval(t *testing.T) {
	h := newHarness(t, hub.Limits{})
	a, b := uuidN("a", 1), uuidN("b", 2)
	pa := uuidN("pa", 3)
	cha, chb := realtime.PollChannel(pa), realtime.CircleChannel(b)
	h.world.addPoll(pa, a)
	h.world.join(b, "u")
	h.world.join(b, "v")

	f1 := h.open("u")
	expectRefused(t, subscribe(t, f1, 1, cha), frames.CodeNotCircleMember)
	h.world.join(a, "u")
	expectSubscribed(t, subscribe(t, f1, 2, cha), cha) // the refusal was not kept
	f2 := h.open("u")
	calls := h.world.authCalls.Load()
	expectSubscribed(t, subscribe(t, f2, 1, cha), cha)
	if h.world.authCalls.Load() != calls {
		t.Fatal("a second subscribe of the same user and channel asked the authorizer again")
	}

	h.world.leave(a, "u")
	h.publishRemoval("u", a)
	f1.expect(t, "unsubscribed")
	f2.expect(t, "unsubscribed")
	expectRefused(t, subscribe(t, f1, 3, cha), frames.CodeNotCircleMember)
	expectRefused(t, subscribe(t, h.open("u"), 1, cha), frames.CodeNotCircleMember)

	// The circle is deleted: every user's grant goes.
	fv := h.open("v")
	expectSubscribed(t, subscribe(t, fv, 1, chb), chb)
	h.world.leave(b, "u")
	h.world.leave(b, "v")
	h.publishRemoval("", b)
	fv.expect(t, "unsubscribed")
	expectRefused(t, subscribe(t, h.open("v"), 1, chb), frames.CodeNotCircleMember)
}

// TestAuthCacheRemovalRace: a grant read before a removal and returned after it is not kept.
func TestAuthCacheRemovalRace(t *testing.T) {
	h := newHarness(t, hub.Limits{})
	a, pa := uuidN("a", 1), uuidN("pa", 2)
	ch := realtime.PollChannel(pa)
	h.world.addPoll(pa, a)
	h.world.join(a, "u")
	entered, release := make(chan struct{}), make(chan struct{})
	var held atomic.Bool
	h.world.mu.Lock()
	h.world.onAuth = func(string, string) {
		if held.CompareAndSwap(false, true) {
			close(entered)
			<-release
		}
	}
	h.world.mu.Unlock()
	f1 := h.open("u")
	f1.send(map[string]any{"type": "subscribe", "id": 1, "channel": ch})
	waitClosedChan(t, entered, "the authorizer")
	h.world.leave(a, "u")
	h.publishRemoval("u", a)
	close(release) // the authorizer answers "member", read before the removal
	expectRefused(t, f1.next(t), frames.CodeNotCircleMember)
	expectRefused(t, subscribe(t, h.open("u"), 1, ch), frames.CodeNotCircleMember)
}

// TestAuthCacheDroppedOnReconnect: removal messages may have been lost with the broker link,
// so a reconnect forgets every grant.
func TestAuthCacheDroppedOnReconnect(t *testing.T) {
	h := newHarness(t, hub.Limits{})
	a := uuidN("a", 1)
	ch := realtime.CircleChannel(a)
	h.world.join(a, "u")
	expectSubscribed(t, subscribe(t, h.open("u"), 1, ch), ch)
	h.world.leave(a, "u") // its removal message was lost
	h.hub.HandleReconnect()
	expectRefused(t, subscribe(t, h.open("u"), 1, ch), frames.CodeNotCircleMember)
}

// TestAuthCacheExpires: a grant is reused for AuthTTL at most, which bounds what a removal
// that never reached this replica leaves behind.
func TestAuthCacheExpires(t *testing.T) {
	h := newHarness(t, hub.Limits{AuthTTL: 100 * time.Millisecond})
	a := uuidN("a", 1)
	ch := realtime.CircleChannel(a)
	h.world.join(a, "u")
	expectSubscribed(t, subscribe(t, h.open("u"), 1, ch), ch)
	h.world.leave(a, "u") // no removal message
	time.Sleep(150 * time.Millisecond)
	expectRefused(t, subscribe(t, h.open("u"), 1, ch), frames.CodeNotCircleMember)
}

// onePoll adds a poll at version in circle "c" with these members and returns its channel.
func onePoll(h *harness, version int, members ...string) string {
	p := uuidN("p", 1)
	ch := realtime.PollChannel(p)
	h.world.addPoll(p, "c")
	for _, u := range members {
		h.world.join("c", u)
	}
	h.world.setVersion(ch, version)
	return ch
}

// subscribeBehindRead has u1 subscribe to ch and start a snapshot read (the world closes
// entered and holds it until release), then u2 subscribe while that read is under way. It
// lets the read finish once u2 has reached the cache, and returns both connections.
func subscribeBehindRead(t *testing.T, h *harness, ch string, entered, release chan struct{}) (*fakeTransport, *fakeTransport) {
	t.Helper()
	f1, f2 := h.open("u1"), h.open("u2")
	f1.send(map[string]any{"type": "subscribe", "id": 1, "channel": ch})
	waitClosedChan(t, entered, "u1's read")
	f2.send(map[string]any{"type": "subscribe", "id": 1, "channel": ch})
	waitFor(t, "u2 to watch the channel", func() bool { return hub.WatcherCount(h.hub, ch) == 2 })
	time.Sleep(50 * time.Millisecond) // u2 reaches the cache and waits for u1's read
	close(release)
	return f1, f2
}

// TestPartialReconnectRereadsOnlyItsPolls: a sharded broker's one recovered shard names its
// channels; only those polls are re-read and pushed, the others keep their cache.
func TestPartialReconnectRereadsOnlyItsPolls(t *testing.T) {
	h := newHarness(t, hub.Limits{})
	pa, pb := uuidN("p", 1), uuidN("p", 2)
	chA, chB := realtime.PollChannel(pa), realtime.PollChannel(pb)
	h.world.addPoll(pa, "c")
	h.world.addPoll(pb, "c")
	h.world.join("c", "u1")
	h.world.setVersion(chA, 1)
	h.world.setVersion(chB, 1)
	f := h.open("u1")
	expectSubscribed(t, subscribe(t, f, 1, chA), chA)
	expectSubscribed(t, subscribe(t, f, 2, chB), chB)

	var mu sync.Mutex
	reads := map[string]int{}
	h.world.mu.Lock()
	h.world.onSnap = func(ch string) { mu.Lock(); reads[ch]++; mu.Unlock() }
	h.world.mu.Unlock()
	h.world.setVersion(chA, 5) // lost with shard A's link
	h.world.setVersion(chB, 7) // on another shard: not lost, its tally comes by the broker later
	h.hub.HandleReconnectOf(func(ch string) bool { return ch == chA })
	if v := frameVersion(t, f.expect(t, "tally")); v != 5 {
		t.Fatalf("refresh pushed %d, want 5", v)
	}
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if reads[chA] != 1 || reads[chB] != 0 {
		t.Fatalf("snapshot reads %v, want one of %s and none of %s", reads, chA, chB)
	}
}

// TestReconnectEndsAPollGoneMeanwhile: a poll deleted or hidden while the broker link was down
// (its "ended" message lost) is found gone by the re-read, and its watchers are told.
func TestReconnectEndsAPollGoneMeanwhile(t *testing.T) {
	h := newHarness(t, hub.Limits{})
	ch := onePoll(h, 1, "u1")
	f := h.open("u1")
	expectSubscribed(t, subscribe(t, f, 1, ch), ch)
	h.world.mu.Lock()
	h.world.failSnap = func(string) error {
		return &frames.Error{Code: frames.CodePollNotFound, Message: "poll not found"}
	}
	h.world.mu.Unlock()
	h.hub.HandleReconnect()
	m := f.expect(t, "unsubscribed")
	if m["channel"] != ch || m["reason"] != "deleted" {
		t.Fatalf("got %v, want unsubscribed from %s with reason deleted", m, ch)
	}
	waitFor(t, "the channel to have no watcher", func() bool { return hub.WatcherCount(h.hub, ch) == 0 })
}
