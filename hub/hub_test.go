package hub_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"circly/frames"
	"circly/hub"
	"circly/realtime"
)

// TestManyClientsConverge: 200 connections watch 10 polls while 8 goroutines publish
// tallies out of order; every connection sees `subscribed` first, versions that never go
// down, and ends on the highest version of each poll.
func TestManyClientsConverge(t *testing.T) {
	h := newHarness(t, hub.Limits{})
	const polls, clients, top = 10, 200, 300
	var chans []string
	for i := 0; i < polls; i++ {
		id := uuidN("poll", i)
		h.world.addPoll(id, "c1")
		chans = append(chans, realtime.PollChannel(id))
	}
	fakes := make([]*fakeTransport, clients)
	for i := range fakes {
		u := fmt.Sprintf("u%d", i)
		h.world.join("c1", u)
		fakes[i] = h.open(u)
	}
	subscribeWhilePublishing(h, fakes, chans, top)
	var check sync.WaitGroup
	for _, f := range fakes {
		check.Add(1)
		go func() {
			defer check.Done()
			last := map[string]int{}
			subscribed := map[string]bool{}
			for len(last) < polls || !allAt(last, top) {
				m, ok := f.poll(5 * time.Second)
				if !ok {
					t.Errorf("stuck at %v", last)
					return
				}
				ch := m["channel"].(string)
				switch m["type"] {
				case "subscribed":
					subscribed[ch] = true
				case "tally":
					if !subscribed[ch] {
						t.Errorf("tally before subscribed on %s", ch)
						return
					}
				default:
					t.Errorf("unexpected frame %v", m)
					return
				}
				v := frameVersion(t, m)
				if v < last[ch] {
					t.Errorf("%s went from %d to %d", ch, last[ch], v)
					return
				}
				last[ch] = v
			}
		}()
	}
	check.Wait()
}

func allAt(last map[string]int, v int) bool {
	for _, x := range last {
		if x != v {
			return false
		}
	}
	return true
}

// TestConflation: a client that is not reading gets, once it reads again, its snapshot and
// then only the newest tally, not the 500 in between.
func TestConflation(t *testing.T) {
	h := newHarness(t, hub.Limits{})
	h.world.addPoll(uuidN("p", 1), "c")
	h.world.join("c", "u")
	ch := realtime.PollChannel(uuidN("p", 1))
	f := h.open("u")
	f.send(map[string]any{"type": "subscribe", "id": 1, "channel": ch})
	f.expect(t, "subscribed")
	h.publishTally(ch, 1)
	// Block the writer on the next frame, then pile up tallies behind it.
	f2 := newFake()
	f2.out <- []byte(`{"type":"ready","user_id":"u"}`) // the gate holds the real one back
	gate := make(chan struct{})
	f2.gate = gate
	h.openFake(f2, "u")
	f2.send(map[string]any{"type": "subscribe", "id": 1, "channel": ch})
	time.Sleep(100 * time.Millisecond) // the subscribed frame is now stuck in Write
	for v := 2; v <= 500; v++ {
		h.publishTally(ch, v)
	}
	h.waitFanOut() // every tally reached the connection while its writer is stuck
	close(gate)
	f2.expect(t, "ready")
	f2.expect(t, "subscribed")
	got := []int{}
	for {
		m := f2.next(t)
		got = append(got, frameVersion(t, m))
		if got[len(got)-1] == 500 {
			break
		}
	}
	if len(got) > 2 {
		t.Fatalf("slow client got %d tallies %v, want the newest (conflated)", len(got), got)
	}
}

// TestSlowConsumerClosed: events pile up behind a client that never reads: it is closed with
// 4008 and another client of the channel keeps receiving without delay.
func TestSlowConsumerClosed(t *testing.T) {
	h := newHarness(t, hub.Limits{EventQueue: 16})
	circle := uuidN("c", 1)
	h.world.join(circle, "slow")
	h.world.join(circle, "fast")
	ch := realtime.CircleChannel(circle)
	slow := newFake()
	slow.out <- []byte(`{"type":"ready"}`)
	slow.gate = make(chan struct{}) // never opened: the client does not read
	h.openFake(slow, "slow")
	slow.send(map[string]any{"type": "subscribe", "id": 1, "channel": ch})
	fast := h.open("fast")
	fast.send(map[string]any{"type": "subscribe", "id": 1, "channel": ch})
	fast.expect(t, "subscribed")
	for i := 0; i < 40; i++ {
		h.publishEvent(ch, fmt.Sprintf("e%d", i))
		time.Sleep(time.Millisecond) // the fast client keeps up
	}
	if code := slow.waitClosed(t, 5*time.Second); code != hub.CloseSlowConsumer {
		t.Fatalf("slow client closed with %d, want 4008", code)
	}
	for i := 0; i < 40; i++ {
		if m := fast.expect(t, "event"); m["event"] != fmt.Sprintf("e%d", i) {
			t.Fatalf("event %d out of order: %v", i, m)
		}
	}
}

// TestRemoval: a removal ends exactly that user's subscriptions to the circle and its polls,
// each with an `unsubscribed` frame, and unsubscribes the broker when nobody else watches.
func TestRemoval(t *testing.T) {
	h := newHarness(t, hub.Limits{})
	a, b := uuidN("a", 1), uuidN("b", 2)
	pa := uuidN("pa", 3)
	uid := uuidN("u", 4)
	h.world.join(a, uid)
	h.world.join(b, uid)
	h.world.join(a, "other")
	h.world.addPoll(pa, a)
	u := h.open(uid)
	other := h.open("other")
	for i, ch := range []string{realtime.CircleChannel(a), realtime.PollChannel(pa), realtime.CircleChannel(b), realtime.UserChannel(uid)} {
		u.send(map[string]any{"type": "subscribe", "id": i, "channel": ch})
		u.expect(t, "subscribed")
	}
	other.send(map[string]any{"type": "subscribe", "id": 1, "channel": realtime.CircleChannel(a)})
	other.expect(t, "subscribed")

	if err := h.broker.Publish(context.Background(), realtime.Message{Channel: realtime.ControlChannel, Kind: realtime.KindRemoval, UserID: uid, CircleID: a}); err != nil {
		t.Fatal(err)
	}
	gone := map[string]bool{}
	for i := 0; i < 2; i++ {
		m := u.expect(t, "unsubscribed")
		if m["reason"] != "removed" {
			t.Fatalf("unsubscribed without reason removed: %v", m)
		}
		gone[m["channel"].(string)] = true
	}
	if !gone[realtime.CircleChannel(a)] || !gone[realtime.PollChannel(pa)] {
		t.Fatalf("removed channels %v", gone)
	}
	// The poll had no other watcher: the broker no longer delivers it; the circle still has one.
	if n := h.broker.count(realtime.PollChannel(pa)); n != 0 {
		t.Errorf("poll channel broker subscriptions = %d, want 0", n)
	}
	if n := h.broker.count(realtime.CircleChannel(a)); n != 1 {
		t.Errorf("circle channel broker subscriptions = %d, want 1", n)
	}
	// u still gets circle b; other still gets circle a.
	h.publishEvent(realtime.CircleChannel(b), "still")
	if m := u.expect(t, "event"); m["channel"] != realtime.CircleChannel(b) {
		t.Fatalf("got %v", m)
	}
	h.publishEvent(realtime.CircleChannel(a), "still")
	other.expect(t, "event")
}

// TestSnapshotOrdering: tallies published while the snapshot is read follow the subscribed
// frame, and only when newer than the snapshot.
func TestSnapshotOrdering(t *testing.T) {
	h := newHarness(t, hub.Limits{})
	p := uuidN("p", 1)
	ch := realtime.PollChannel(p)
	h.world.addPoll(p, "c")
	h.world.join("c", "u")
	h.world.setVersion(ch, 5)
	h.world.onSnap = func(string) {
		h.publishTally(ch, 4) // older than the snapshot: never sent
		h.publishTally(ch, 6) // newer: sent after subscribed
	}
	f := h.open("u")
	f.send(map[string]any{"type": "subscribe", "id": 7, "channel": ch})
	m := f.expect(t, "subscribed")
	if frameVersion(t, m) != 5 || m["id"] != float64(7) {
		t.Fatalf("subscribed %v", m)
	}
	if v := frameVersion(t, f.expect(t, "tally")); v != 6 {
		t.Fatalf("tally version %d, want 6", v)
	}
}

// TestReconnectRefresh: after a broker reconnect every poll channel's current snapshot is
// pushed to its watchers, never an older one.
func TestReconnectRefresh(t *testing.T) {
	h := newHarness(t, hub.Limits{})
	p := uuidN("p", 1)
	ch := realtime.PollChannel(p)
	h.world.addPoll(p, "c")
	h.world.join("c", "u")
	f := h.open("u")
	f.send(map[string]any{"type": "subscribe", "id": 1, "channel": ch})
	f.expect(t, "subscribed")
	h.world.setVersion(ch, 9) // tallies 1..9 were "lost"
	h.hub.HandleReconnect()
	if v := frameVersion(t, f.expect(t, "tally")); v != 9 {
		t.Fatalf("refresh version %d, want 9", v)
	}
	h.hub.HandleReconnect() // same version again: nothing sent
	h.publishTally(ch, 10)
	if v := frameVersion(t, f.expect(t, "tally")); v != 10 {
		t.Fatalf("version %d after refresh, want 10", v)
	}
}

// TestLimits: channels per connection, errors per connection, duplicate subscribe.
func TestLimits(t *testing.T) {
	h := newHarness(t, hub.Limits{MaxChannels: 3})
	h.world.join(uuidN("c", 0), "u")
	f := h.open("u")
	for i := 0; i < 3; i++ {
		p := uuidN("p", i)
		h.world.addPoll(p, uuidN("c", 0))
		f.send(map[string]any{"type": "subscribe", "id": i, "channel": realtime.PollChannel(p)})
		f.expect(t, "subscribed")
	}
	h.world.addPoll(uuidN("p", 9), uuidN("c", 0))
	f.send(map[string]any{"type": "subscribe", "id": 9, "channel": realtime.PollChannel(uuidN("p", 9))})
	if m := f.expect(t, "error"); m["code"] != frames.CodeTooManyChannels || m["id"] != float64(9) {
		t.Fatalf("got %v", m)
	}
	// 9 more errors (10 in all) close the connection with 1008, the 10th error frame first.
	for i := 0; i < 9; i++ {
		f.in <- []byte(`{"type":"dance"}`)
	}
	for i := 0; i < 9; i++ {
		if m := f.expect(t, "error"); m["code"] != frames.CodeUnknownFrame {
			t.Fatalf("got %v", m)
		}
	}
	if code := f.waitClosed(t, 5*time.Second); code != hub.ClosePolicy {
		t.Fatalf("closed with %d, want 1008", code)
	}
}

// TestServerFailuresDoNotCount: snapshot reads failing on the server's side (timeouts under
// overload) answer INTERNAL_ERROR frames but never close the connection with 1008; the client
// can subscribe once the server recovers.
func TestServerFailuresDoNotCount(t *testing.T) {
	h := newHarness(t, hub.Limits{})
	h.world.join(uuidN("c", 0), "u")
	p := uuidN("p", 0)
	h.world.addPoll(p, uuidN("c", 0))
	h.world.mu.Lock()
	h.world.snapErr = context.DeadlineExceeded
	h.world.mu.Unlock()
	f := h.open("u")
	for i := 0; i < 15; i++ {
		f.send(map[string]any{"type": "subscribe", "id": i, "channel": realtime.PollChannel(p)})
		if m := f.expect(t, "error"); m["code"] != frames.CodeInternal {
			t.Fatalf("got %v", m)
		}
	}
	h.world.mu.Lock()
	h.world.snapErr = nil
	h.world.mu.Unlock()
	f.send(map[string]any{"type": "subscribe", "id": 99, "channel": realtime.PollChannel(p)})
	f.expect(t, "subscribed")
	if code := f.closeCode(); code != 0 {
		t.Fatalf("closed with %d after server-side failures", code)
	}
}

// TestAdmit: the 11th connection of a user is refused; releasing a slot admits again.
func TestAdmit(t *testing.T) {
	h := newHarness(t, hub.Limits{})
	var releases []func()
	for i := 0; i < 10; i++ {
		r, err := h.hub.Admit("u")
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, r)
	}
	if _, err := h.hub.Admit("u"); err != hub.ErrTooManyConnections {
		t.Fatalf("11th: %v", err)
	}
	if _, err := h.hub.Admit("v"); err != nil {
		t.Fatalf("another user: %v", err)
	}
	releases[0]()
	releases[0]() // twice is harmless
	if _, err := h.hub.Admit("u"); err != nil {
		t.Fatalf("after release: %v", err)
	}
}

// TestFirstFrameAuth: silence or a bad token closes 4001; a good token gets ready.
func TestFirstFrameAuth(t *testing.T) {
	h := newHarness(t, hub.Limits{AuthTimeout: 200 * time.Millisecond})
	auth := func(_ context.Context, tok string) (string, error) {
		if tok == "good" {
			return "u", nil
		}
		return "", fmt.Errorf("bad token")
	}
	serve := func() *fakeTransport {
		f := newFake()
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			h.hub.Serve(context.Background(), f, hub.Session{Authenticate: auth})
		}()
		return f
	}
	if code := serve().waitClosed(t, 5*time.Second); code != hub.CloseUnauthorized {
		t.Fatalf("silence: %d", code)
	}
	f := serve()
	f.send(map[string]any{"type": "auth", "token": "bad"})
	if code := f.waitClosed(t, 5*time.Second); code != hub.CloseUnauthorized {
		t.Fatalf("bad token: %d", code)
	}
	f = serve()
	f.send(map[string]any{"type": "subscribe", "channel": "poll:x"})
	if code := f.waitClosed(t, 5*time.Second); code != hub.CloseUnauthorized {
		t.Fatalf("subscribe first: %d", code)
	}
	f = serve()
	f.send(map[string]any{"type": "auth", "token": "good"})
	if m := f.expect(t, "ready"); m["user_id"] != "u" {
		t.Fatalf("ready %v", m)
	}
}

// TestPingTimeout: a client that does not answer pings is closed.
func TestPingTimeout(t *testing.T) {
	h := newHarness(t, hub.Limits{PingInterval: time.Millisecond, PongTimeout: 100 * time.Millisecond})
	f := newFake()
	f.pingOK = false
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		h.hub.Serve(context.Background(), f, hub.Session{UserID: "u"})
	}()
	f.expect(t, "ready")
	if code := f.waitClosed(t, 5*time.Second); code != hub.ClosePolicy {
		t.Fatalf("closed with %d", code)
	}
}

// TestPingAnswered: a client that answers its pings stays connected, pinged every interval.
func TestPingAnswered(t *testing.T) {
	h := newHarness(t, hub.Limits{PingInterval: time.Millisecond, PongTimeout: 100 * time.Millisecond})
	f := newFake()
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		h.hub.Serve(context.Background(), f, hub.Session{UserID: "u"})
	}()
	f.expect(t, "ready")
	// The sweep runs once a second: a ping, then its pong seen, then the next ping.
	deadline := time.Now().Add(10 * time.Second)
	for f.pingCount() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d pings in 10 s", f.pingCount())
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case <-f.closed:
		t.Fatalf("a client that answers pings was closed with %d", f.closeCode())
	default:
	}
}

// TestWriteTimeout: a write that hangs past WriteTimeout closes the connection.
func TestWriteTimeout(t *testing.T) {
	h := newHarness(t, hub.Limits{WriteTimeout: 100 * time.Millisecond})
	f := newFake()
	f.gate = make(chan struct{})
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		h.hub.Serve(context.Background(), f, hub.Session{UserID: "u"})
	}()
	if code := f.waitClosed(t, 5*time.Second); code != hub.CloseSlowConsumer {
		t.Fatalf("closed with %d", code)
	}
}

// TestDrain: every connection gets the reconnect frame and then 1001; new ones are refused.
func TestDrain(t *testing.T) {
	h := newHarness(t, hub.Limits{})
	var fs []*fakeTransport
	for i := 0; i < 50; i++ {
		fs = append(fs, h.open(fmt.Sprintf("u%d", i)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h.hub.Drain(ctx, 300*time.Millisecond)
	if n := h.hub.Connections(); n != 0 {
		t.Fatalf("%d connections after drain", n)
	}
	for _, f := range fs {
		if m := f.expect(t, "reconnect"); m["reason"] != "shutdown" {
			t.Fatalf("got %v", m)
		}
		if code := f.waitClosed(t, time.Second); code != hub.CloseGoingAway {
			t.Fatalf("closed with %d", code)
		}
	}
	if _, err := h.hub.Admit("late"); err != hub.ErrDraining {
		t.Fatalf("admit while draining: %v", err)
	}
}

// TestAccountGone: a deleted account loses every connection on this replica (4001), including
// those registering while the deletion arrives, and new ones are refused, by Admit and after
// first-frame auth; other users keep theirs.
func TestAccountGone(t *testing.T) {
	h := newHarness(t, hub.Limits{MaxConnsPerUser: 1000})
	uid := uuidN("u", 1)
	open := []*fakeTransport{h.open(uid), h.open(uid)}
	other := h.open("other")
	serve := func(s hub.Session) *fakeTransport {
		f := newFake()
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			h.hub.Serve(context.Background(), f, s)
		}()
		return f
	}
	for range 50 {
		open = append(open, serve(hub.Session{UserID: uid}))
	}
	if err := h.broker.Publish(context.Background(), realtime.Message{Channel: realtime.ControlChannel, Kind: realtime.KindRemoval, UserID: uid}); err != nil {
		t.Fatal(err)
	}
	for i, f := range open {
		if code := f.waitClosed(t, 5*time.Second); code != hub.CloseUnauthorized {
			t.Fatalf("connection %d of the deleted account closed with %d, want 4001", i, code)
		}
	}
	if now := time.Now(); !h.revoked.Has(uid, now) || h.revoked.Has("other", now) {
		t.Fatalf("revoked list: deleted %v, other %v", h.revoked.Has(uid, now), h.revoked.Has("other", now))
	}
	if _, err := h.hub.Admit(uid); err != hub.ErrAccountGone {
		t.Fatalf("Admit after deletion: %v", err)
	}
	late := serve(hub.Session{Authenticate: func(context.Context, string) (string, error) { return uid, nil }})
	late.send(map[string]any{"type": "auth", "token": "still-signed"})
	if code := late.waitClosed(t, 5*time.Second); code != hub.CloseUnauthorized {
		t.Fatalf("first-frame auth after deletion: %d", code)
	}
	other.send(map[string]any{"type": "ping", "id": 1})
	other.expect(t, "pong")
}

// TestPollDeleted: a deleted poll's watchers on this replica get `unsubscribed` (reason
// "deleted") for that poll only, the broker stops delivering it, and a user whose grant was
// cached is asked again (and refused) when subscribing anew.
func TestPollDeleted(t *testing.T) {
	h := newHarness(t, hub.Limits{})
	circle, pa, pb := uuidN("c", 1), uuidN("pa", 2), uuidN("pb", 3)
	h.world.addPoll(pa, circle)
	h.world.addPoll(pb, circle)
	chA, chB := realtime.PollChannel(pa), realtime.PollChannel(pb)
	var conns []*fakeTransport
	for _, u := range []string{"u1", "u2"} {
		h.world.join(circle, u)
		f := h.open(u)
		for i, ch := range []string{chA, chB} {
			f.send(map[string]any{"type": "subscribe", "id": i, "channel": ch})
			f.expect(t, "subscribed")
		}
		conns = append(conns, f)
	}
	h.world.deletePoll(pa)
	if err := h.broker.Publish(context.Background(), realtime.Message{Channel: realtime.ControlChannel,
		Kind: realtime.KindEnded, Target: chA, CircleID: circle}); err != nil {
		t.Fatal(err)
	}
	for _, f := range conns {
		if m := f.expect(t, "unsubscribed"); m["channel"] != chA || m["reason"] != "deleted" {
			t.Fatalf("got %v, want unsubscribed from %s with reason deleted", m, chA)
		}
	}
	if n := h.broker.count(chA); n != 0 {
		t.Errorf("deleted poll's broker subscriptions = %d, want 0", n)
	}
	h.publishTally(chB, 1)
	for _, f := range conns {
		if m := f.expect(t, "tally"); m["channel"] != chB {
			t.Fatalf("got %v, want the other poll's tally", m)
		}
	}
	conns[0].send(map[string]any{"type": "subscribe", "id": 9, "channel": chA})
	if m := conns[0].expect(t, "error"); m["code"] != frames.CodePollNotFound {
		t.Fatalf("subscribing to the deleted poll: %v", m)
	}
}

// subscribeWhilePublishing has 8 publishers send tallies 1..top of every channel while every
// fake subscribes to all of them (pipelined), and returns once everything is published.
func subscribeWhilePublishing(h *harness, fakes []*fakeTransport, chans []string, top int) {
	var pub sync.WaitGroup
	start := make(chan struct{})
	for g := 0; g < 8; g++ {
		pub.Add(1)
		go func() {
			defer pub.Done()
			<-start
			for v := 1 + g; v <= top; v += 8 {
				for _, ch := range chans {
					h.publishTally(ch, v)
				}
			}
		}()
	}
	for i, f := range fakes {
		for j, ch := range chans {
			f.send(map[string]any{"type": "subscribe", "id": j, "channel": ch})
		}
		if i == 0 {
			close(start)
		}
	}
	pub.Wait()
}
