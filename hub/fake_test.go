package hub_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"circly/frames"
	"circly/hub"
	"circly/realtime"
	"circly/revoked"
)

// fakeTransport is a client connection in memory: the test pushes client frames into in and
// reads what the server wrote from out. gate, when set, blocks writes until it is closed
// (a client that does not read).
type fakeTransport struct {
	in     chan []byte
	out    chan []byte
	gate   chan struct{}
	closed chan struct{}
	once   sync.Once
	mu     sync.Mutex
	code   int
	reason string
	pingOK bool
	pings  int
	pongs  uint64
}

func newFake() *fakeTransport {
	return &fakeTransport{in: make(chan []byte, 16), out: make(chan []byte, 100000), closed: make(chan struct{}), pingOK: true}
}

func (f *fakeTransport) Read(ctx context.Context) ([]byte, error) {
	select {
	case b := <-f.in:
		return b, nil
	case <-f.closed:
		return nil, errors.New("closed")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (f *fakeTransport) Write(ctx context.Context, p []byte) error {
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-f.closed:
			return errors.New("closed")
		}
	}
	select {
	case <-f.closed:
		return errors.New("closed")
	default:
	}
	select {
	case f.out <- p:
		return nil
	case <-f.closed:
		return errors.New("closed")
	}
}

// Ping answers at once with a pong unless pingOK is false (a client that has gone quiet).
func (f *fakeTransport) Ping() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pings++
	if f.pingOK {
		f.pongs++
	}
	return nil
}

func (f *fakeTransport) Pongs() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pongs
}

func (f *fakeTransport) pingCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pings
}

func (f *fakeTransport) Close(code int, reason string) error {
	f.once.Do(func() {
		f.mu.Lock()
		f.code, f.reason = code, reason
		f.mu.Unlock()
		close(f.closed)
	})
	return nil
}

func (f *fakeTransport) closeCode() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.code
}

// waitClosed waits for the server to close the connection and returns the code.
func (f *fakeTransport) waitClosed(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-f.closed:
		return f.closeCode()
	case <-time.After(timeout):
		t.Fatalf("connection not closed within %s", timeout)
		return 0
	}
}

func (f *fakeTransport) send(v any) {
	b, _ := json.Marshal(v)
	f.in <- b
}

// poll is next for other goroutines: false on timeout.
func (f *fakeTransport) poll(timeout time.Duration) (map[string]any, bool) {
	select {
	case b := <-f.out:
		var m map[string]any
		if json.Unmarshal(b, &m) != nil {
			return nil, false
		}
		return m, true
	case <-time.After(timeout):
		return nil, false
	}
}

// next returns the next frame written to the client.
func (f *fakeTransport) next(t *testing.T) map[string]any {
	t.Helper()
	select {
	case b := <-f.out:
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("server wrote invalid JSON %q: %v", b, err)
		}
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no frame within 5 s")
		return nil
	}
}

func (f *fakeTransport) expect(t *testing.T, typ string) map[string]any {
	t.Helper()
	m := f.next(t)
	if m["type"] != typ {
		t.Fatalf("frame %v, want type %s", m, typ)
	}
	return m
}

// world is the fake store behind a hub: which user is in which circle, which poll belongs
// to which circle, and each poll's current version.
type world struct {
	mu       sync.Mutex
	members  map[string]map[string]bool // circle → users
	polls    map[string]string          // poll id → circle id
	versions map[string]int             // channel → version
	closed   map[string]bool            // channel → poll closed
	delay    time.Duration              // snapshot read time
	onSnap   func(channel string)       // called during a snapshot read
	onAuth   func(user, channel string) // called after Authorize has its answer
	failSnap func(channel string) error // after onSnap: a non-nil error fails that read
	snapErr  error                      // when set, every snapshot read fails with it

	authCalls atomic.Int64 // Authorize calls
	snapCalls atomic.Int64 // Snapshot calls
}

func newWorld() *world {
	return &world{members: map[string]map[string]bool{}, polls: map[string]string{}, versions: map[string]int{},
		closed: map[string]bool{}}
}

func (w *world) leave(circle, user string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.members[circle], user)
}

func (w *world) closePoll(ch string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed[ch] = true
}

func (w *world) join(circle, user string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.members[circle] == nil {
		w.members[circle] = map[string]bool{}
	}
	w.members[circle][user] = true
}

func (w *world) addPoll(poll, circle string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.polls[poll] = circle
}

func (w *world) deletePoll(poll string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.polls, poll)
}

func (w *world) setVersion(ch string, v int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.versions[ch] = v
}

func (w *world) Authorize(_ context.Context, userID, channel string) (string, error) {
	w.authCalls.Add(1)
	w.mu.Lock()
	circle, err := w.authorize(userID, channel)
	on := w.onAuth
	w.mu.Unlock()
	if on != nil {
		on(userID, channel) // the answer is already read, as a query's would be
	}
	return circle, err
}

func (w *world) authorize(userID, channel string) (string, error) {
	prefix, id, _ := realtime.SplitChannel(channel)
	switch prefix {
	case realtime.PollPrefix:
		circle, ok := w.polls[id]
		if !ok {
			return "", &frames.Error{Code: frames.CodePollNotFound, Message: "no poll"}
		}
		if !w.members[circle][userID] {
			return "", &frames.Error{Code: frames.CodeNotCircleMember, Message: "not a member"}
		}
		return circle, nil
	case realtime.CirclePrefix:
		if !w.members[id][userID] {
			return "", &frames.Error{Code: frames.CodeNotCircleMember, Message: "not a member"}
		}
		return id, nil
	default:
		if id != userID {
			return "", &frames.Error{Code: frames.CodeForbidden, Message: "not yours"}
		}
		return "", nil
	}
}

func (w *world) Snapshot(_ context.Context, channel string) (frames.Snapshot, error) {
	w.snapCalls.Add(1)
	w.mu.Lock()
	v, closed, delay, on, fail, failure := w.versions[channel], w.closed[channel], w.delay, w.onSnap, w.failSnap, w.snapErr
	w.mu.Unlock()
	if failure != nil {
		return frames.Snapshot{}, failure
	}
	if on != nil {
		on(channel)
	}
	if fail != nil {
		if err := fail(channel); err != nil {
			return frames.Snapshot{}, err
		}
	}
	if delay > 0 {
		time.Sleep(delay)
	}
	var s frames.Snapshot
	if closed {
		s = frames.Snapshot{Version: v, Data: json.RawMessage(fmt.Sprintf(`{"version":%d,"is_closed":true}`, v))}
	} else {
		s = frames.Snapshot{Version: v, Data: json.RawMessage(fmt.Sprintf(`{"version":%d}`, v))}
	}
	if p, _, _ := realtime.SplitChannel(channel); p == realtime.PollPrefix {
		// The compact form's parts, as the app gives them (compact_test.go reads them).
		s.OptionIDs, s.Compact = fakeOptionIDs, fakeCompact(v, closed)
	}
	return s, nil
}

// fakeOptionIDs are every fake poll's option ids; fakeCompact is its compact tally at version
// v: v votes, all for the first option.
var fakeOptionIDs = json.RawMessage(`["o1","o2"]`)

func fakeCompact(v int, closed bool) json.RawMessage {
	return frames.CompactTally{Version: v, TotalVotes: v, Counts: []int{v, 0}, IsClosed: closed}.Encode()
}

// countingBroker is a memory broker that counts subscriptions per channel.
type countingBroker struct {
	*realtime.MemoryBroker
	mu      sync.Mutex
	subs    map[string]int
	onUnsub func(ch string) // called after the memory broker stopped delivering ch
}

func newCountingBroker() *countingBroker {
	return &countingBroker{MemoryBroker: realtime.NewMemoryBroker(), subs: map[string]int{}}
}

func (b *countingBroker) Subscribe(ctx context.Context, chs ...string) error {
	b.mu.Lock()
	for _, c := range chs {
		b.subs[c]++
	}
	b.mu.Unlock()
	return b.MemoryBroker.Subscribe(ctx, chs...)
}

func (b *countingBroker) Unsubscribe(ctx context.Context, chs ...string) error {
	b.mu.Lock()
	for _, c := range chs {
		b.subs[c]--
	}
	on := b.onUnsub
	b.mu.Unlock()
	err := b.MemoryBroker.Unsubscribe(ctx, chs...)
	if on != nil {
		for _, c := range chs {
			on(c)
		}
	}
	return err
}

func (b *countingBroker) count(ch string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.subs[ch]
}

type harness struct {
	t       *testing.T
	hub     *hub.Hub
	broker  *countingBroker
	world   *world
	revoked *revoked.Accounts // the deleted accounts the hub marks
	wg      sync.WaitGroup
}

func newHarness(t *testing.T, lim hub.Limits) *harness {
	t.Helper()
	h := &harness{t: t, broker: newCountingBroker(), world: newWorld(), revoked: &revoked.Accounts{}}
	h.hub = hub.New(hub.Config{Broker: h.broker, Auth: h.world, Snapshots: h.world, Limits: lim, Revoked: h.revoked})
	if err := h.hub.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.hub.Drain(ctx, 0)
		h.wg.Wait()
		h.hub.Close()
	})
	return h
}

// open serves a fake connection for user (already authenticated) and reads its ready frame.
func (h *harness) open(user string, channels ...string) *fakeTransport {
	h.t.Helper()
	return h.openFake(newFake(), user, channels...)
}

// openFake is open with a prepared transport (a gated one, say).
func (h *harness) openFake(f *fakeTransport, user string, channels ...string) *fakeTransport {
	h.t.Helper()
	return h.serve(f, hub.Session{UserID: user, Channels: channels})
}

// openCompact is open for a client that asked for compact tallies.
func (h *harness) openCompact(user string, channels ...string) *fakeTransport {
	h.t.Helper()
	return h.serve(newFake(), hub.Session{UserID: user, Channels: channels, CompactTally: true})
}

func (h *harness) serve(f *fakeTransport, s hub.Session) *fakeTransport {
	h.t.Helper()
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		h.hub.Serve(context.Background(), f, s)
	}()
	f.expect(h.t, "ready")
	return f
}

// waitFanOut waits until the hub has handed every published message to its watchers
// (HandleMessage only queues them).
func (h *harness) waitFanOut() {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !hub.FanOutIdle(h.hub) {
		if time.Now().After(deadline) {
			h.t.Fatal("the hub's fan-out did not finish")
		}
		time.Sleep(time.Millisecond)
	}
}

// publishTally publishes a tally as the app does: the store's version moves first (it never
// goes down), then the message goes out.
func (h *harness) publishTally(ch string, v int) {
	h.world.mu.Lock()
	if v > h.world.versions[ch] && h.world.onSnap == nil {
		h.world.versions[ch] = v
	}
	h.world.mu.Unlock()
	data := json.RawMessage(fmt.Sprintf(`{"version":%d}`, v))
	if err := h.broker.Publish(context.Background(), realtime.Message{Channel: ch, Kind: realtime.KindTally, Version: v,
		Type: frames.TypeTally, Data: data, Compact: fakeCompact(v, false)}); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) publishEvent(ch, event string) {
	if err := h.broker.Publish(context.Background(), realtime.Message{Channel: ch, Kind: realtime.KindEvent,
		Type: frames.TypeEvent, Event: event, Data: json.RawMessage(`{}`)}); err != nil {
		h.t.Fatal(err)
	}
}

func uuidN(prefix string, n int) string {
	return fmt.Sprintf("%08x-0000-4000-8000-%012d", len(prefix)*1000+n, n)
}

func frameVersion(t *testing.T, m map[string]any) int {
	t.Helper()
	d, _ := m["data"].(map[string]any)
	v, ok := d["version"].(float64)
	if !ok {
		t.Fatalf("frame without data.version: %v", m)
	}
	return int(v)
}

var _ = strings.Contains
