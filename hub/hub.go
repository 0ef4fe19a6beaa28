// Package hub holds the live WebSocket connections of one replica: the registry of
// connections and subscriptions, the fan-out of broker messages, per-connection writers with
// tally conflation, the slow-consumer policy, pings and the drain on shutdown. It imports no
// HTTP routing, SQL or Redis code: it reaches clients through the Transport interface and asks
// an injected Authorizer and SnapshotSource (see docs/architecture.md "As built").
package hub

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"time"

	"circly/frames"
	"circly/realtime"
	"circly/revoked"

	"go.uber.org/zap"
)

// Transport is one client connection as the hub sees it. The server's adapter wraps a
// WebSocket; tests may use anything. Read returns the next client message (its size already
// capped by the adapter, which closes with 1009 on a larger one); Write sends one text
// message; Ping sends a control ping and returns without waiting for the pong; Pongs counts
// the pongs received so far (the hub's sweep compares it with the count when it pinged);
// Close ends the connection with a close code. Write, Ping and Close may be called
// concurrently with Read.
type Transport interface {
	Read(ctx context.Context) ([]byte, error)
	Write(ctx context.Context, p []byte) error
	Ping() error
	Pongs() uint64
	Close(code int, reason string) error
}

// Authorizer decides whether a user may watch a channel. It returns the circle the channel
// belongs to ("" for the user's own channel), so that a removal from that circle can end
// exactly the subscriptions it covers. A refusal the client should see is an *frames.Error.
type Authorizer interface {
	Authorize(ctx context.Context, userID, channel string) (circleID string, err error)
}

// SnapshotSource reads the current state of a channel: the data of the `subscribed` frame (for
// a poll the released tally, the same object as a tally frame's data) and the poll's tally
// version (0 for other channels).
type SnapshotSource interface {
	Snapshot(ctx context.Context, channel string) (frames.Snapshot, error)
}

// Limits of the contract and timing knobs; zero fields take the defaults (tests shrink them).
type Limits struct {
	MaxChannels     int           // channels per connection (100)
	MaxConnsPerUser int           // open connections per user on this replica (10)
	MaxErrors       int           // error frames before close 1008 (10)
	EventQueue      int           // ordered frames waiting per connection before 4008 (128)
	AuthTimeout     time.Duration // first-frame auth (10 s)
	PingInterval    time.Duration // server pings (25 s)
	PongTimeout     time.Duration // pong wait (10 s)
	WriteTimeout    time.Duration // one frame write (10 s)
	SnapshotTimeout time.Duration // authorize + snapshot of one subscribe (5 s)
	AuthTTL         time.Duration // how long a granted authorization is reused (60 s)
	Writers         int           // connections written at once (GOMAXPROCS − 1, at least 1; writers.go)
}

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxChannels, 100)
	def(&l.MaxConnsPerUser, DefaultMaxConnsPerUser)
	def(&l.MaxErrors, 10)
	def(&l.EventQueue, 128)
	defd(&l.AuthTimeout, 10*time.Second)
	defd(&l.PingInterval, 25*time.Second)
	defd(&l.PongTimeout, 10*time.Second)
	defd(&l.WriteTimeout, 10*time.Second)
	defd(&l.SnapshotTimeout, 5*time.Second)
	defd(&l.AuthTTL, time.Minute)
	// One processor fewer than the runtime has: writers run without blocking while frames are
	// queued, and with one on every processor a vote's request waited for the scheduler's
	// 10 ms preemption at each step (the hot poll's vote round trip p99 56–61 ms with
	// GOMAXPROCS writers, 19–31 ms with one fewer, on 2 cores; docs/benchmarks.md).
	def(&l.Writers, max(1, runtime.GOMAXPROCS(0)-1))
	return l
}

// Config is what a hub is built from.
type Config struct {
	Broker    realtime.Broker
	Auth      Authorizer
	Snapshots SnapshotSource
	Log       *zap.Logger
	Metrics   Metrics
	Limits    Limits
	// Revoked is the list of deleted accounts this hub marks when the control channel says so
	// and checks before it admits a connection; REST authentication reads the same list.
	// Nil: a list of the hub's own.
	Revoked *revoked.Accounts
}

// Hub is the registry of one replica's live connections. It implements realtime.Handler.
type Hub struct {
	broker    realtime.Broker
	auth      Authorizer
	snapshots SnapshotSource
	log       *zap.Logger
	m         Metrics
	lim       Limits
	authz     authCache
	gone      *revoked.Accounts
	writers   *writerPool

	mu       sync.RWMutex
	channels map[string]*channel
	conns    map[*conn]struct{}
	byUser   map[string]map[*conn]struct{}
	admitted map[string]int // connections per user, counted from admission to the end
	closing  bool

	fan fanQueue // broker messages waiting for fanOut (see HandleMessage)

	ctx    context.Context // the hub's life: broker calls and reconnect re-reads
	cancel context.CancelFunc
	done   chan struct{} // closed when the last connection leaves during a drain
}

var _ realtime.Handler = (*Hub)(nil)

// channel is one channel with local watchers. mu serializes the broker (un)subscribe of the
// channel, so a Subscribe for a new watcher never overtakes the Unsubscribe of the last one.
type channel struct {
	name       string
	mu         sync.Mutex
	subscribed bool
	watchers   map[*conn]*sub // guarded by Hub.mu
	snap       snapCache      // poll channels only; its own lock
}

// New builds a hub; Start connects it to the broker.
func New(cfg Config) *Hub {
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	m := cfg.Metrics
	if m == nil {
		m = nopMetrics{}
	}
	lim := cfg.Limits.withDefaults()
	gone := cfg.Revoked
	if gone == nil {
		gone = &revoked.Accounts{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Hub{m: m,
		broker: cfg.Broker, auth: cfg.Auth, snapshots: cfg.Snapshots, log: log,
		lim: lim, authz: newAuthCache(lim.AuthTTL), gone: gone, writers: newWriterPool(lim.Writers, writerStall),
		channels: map[string]*channel{}, conns: map[*conn]struct{}{},
		byUser: map[string]map[*conn]struct{}{}, admitted: map[string]int{},
		ctx: ctx, cancel: cancel,
	}
}

// Start hands the hub to the broker and subscribes the control channel for the hub's life.
func (h *Hub) Start(ctx context.Context) error {
	// The broker delivers for the hub's life, not for ctx's (which bounds only the start).
	if err := h.broker.Start(h.ctx, h); err != nil {
		return err
	}
	if err := h.broker.Subscribe(ctx, realtime.ControlChannel); err != nil {
		return err
	}
	go h.sweep()
	go h.writers.watch(h.ctx)
	return nil
}

// DefaultMaxConnsPerUser is the contract's limit of open connections per user and replica.
const DefaultMaxConnsPerUser = 10

// MaxConnsPerUser is this hub's limit of open connections per user.
func (h *Hub) MaxConnsPerUser() int { return h.lim.MaxConnsPerUser }

// Draining reports whether Drain has begun (new connections are refused).
func (h *Hub) Draining() bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.closing
}

// Connections is the number of open connections on this replica.
func (h *Hub) Connections() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.conns)
}

// ErrTooManyConnections refuses an 11th connection of one user on this replica.
var ErrTooManyConnections = errors.New("hub: too many connections for this user")

// ErrDraining refuses new connections while the replica shuts down.
var ErrDraining = errors.New("hub: draining")

// ErrAccountGone refuses a connection of an account deleted meanwhile.
var ErrAccountGone = errors.New("hub: account deleted")

// Admit reserves one of the user's connection slots; the server calls it before the upgrade so
// that the 11th request is an HTTP 429. The release func must be called exactly once (Serve
// does it when given the ticket).
func (h *Hub) Admit(userID string) (release func(), err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		return nil, ErrDraining
	}
	if h.gone.Has(userID, time.Now()) {
		return nil, ErrAccountGone
	}
	if h.admitted[userID] >= h.lim.MaxConnsPerUser {
		return nil, ErrTooManyConnections
	}
	h.admitted[userID]++
	var once sync.Once
	return func() {
		once.Do(func() {
			h.mu.Lock()
			if h.admitted[userID]--; h.admitted[userID] <= 0 {
				delete(h.admitted, userID)
			}
			h.mu.Unlock()
		})
	}, nil
}

// HandleMessage implements realtime.Handler: it queues m for the hub's fan-out goroutine. The
// in-memory broker calls it in the publisher's goroutine, which is a vote's HTTP handler:
// handing a tally to thousands of watchers there made the vote's answer wait for the whole
// fan-out (the hot poll's vote round trip p99 was 550 ms at 3,000 watchers on two saturated
// cores). A data message returns at once. A control message (a removal, a deleted poll or
// account) waits until it has taken effect, so the REST request that caused it answers only
// once no new subscribe can find the old grant; it is rare. One goroutine takes the messages
// in order, so a circle's last events still precede the end of its subscriptions.
func (h *Hub) HandleMessage(m realtime.Message) {
	var done chan struct{}
	if m.Kind == realtime.KindRemoval || m.Kind == realtime.KindEnded {
		done = make(chan struct{})
	}
	h.fan.mu.Lock()
	h.fan.queue = append(h.fan.queue, queued{m: m, done: done})
	start := !h.fan.running
	h.fan.running = true
	h.fan.mu.Unlock()
	if start {
		go h.fanOut()
	}
	if done != nil {
		<-done
	}
}

// fanQueue holds the broker's messages between HandleMessage and fanOut. It is not bounded: a
// message costs its fan-out a lock and a queue append per watcher, far less than the broker
// or the database spent to produce it, so the queue stays short.
type fanQueue struct {
	mu      sync.Mutex
	queue   []queued
	spare   []queued
	running bool // a fanOut goroutine is on its way
}

type queued struct {
	m    realtime.Message
	done chan struct{} // closed once dispatched (control messages)
}

// fanOut dispatches queued messages until the queue is empty, then ends.
func (h *Hub) fanOut() {
	for {
		h.fan.mu.Lock()
		batch := h.fan.queue
		if len(batch) == 0 {
			h.fan.running = false
			h.fan.mu.Unlock()
			return
		}
		h.fan.queue, h.fan.spare = h.fan.spare[:0], nil
		h.fan.mu.Unlock()
		for i := range batch {
			h.dispatch(batch[i].m)
			if batch[i].done != nil {
				close(batch[i].done)
			}
			batch[i] = queued{}
		}
		h.fan.mu.Lock()
		h.fan.spare = batch[:0]
		h.fan.mu.Unlock()
	}
}

// dispatch hands a data message to every local watcher of its channel without blocking (each
// connection queues or conflates it), or applies a control message.
func (h *Hub) dispatch(m realtime.Message) {
	switch {
	case m.Kind == realtime.KindRemoval && m.CircleID == "":
		h.endAccount(m.UserID)
		return
	case m.Kind == realtime.KindRemoval:
		h.removeUser(m.UserID, m.CircleID)
		return
	case m.Kind == realtime.KindEnded:
		reason := m.Reason
		if reason == "" {
			reason = realtime.EndedDeleted // from a replica older than Reason
		}
		h.endChannel(m.Target, m.CircleID, reason)
		return
	}
	// Encoded before the lock, once per form: the broker delivers only channels this replica
	// watches, and every watcher of a form gets the same bytes.
	full := out{kind: m.Kind, version: m.Version, frame: frames.Data(m.Type, m.Channel, m.Event, m.Data)}
	compact := full
	if len(m.Compact) > 0 {
		compact.frame = frames.Data(m.Type, m.Channel, m.Event, m.Compact)
	}
	h.mu.RLock()
	ch := h.channels[m.Channel]
	if ch != nil {
		ch.snap.message(m) // under the read lock: see snapCache.message
		for c, s := range ch.watchers {
			if c.compact {
				c.deliver(s, compact)
			} else {
				c.deliver(s, full)
			}
		}
	}
	h.mu.RUnlock()
}

// out is a broker message as this replica's connections send it: its kind and version, and
// its client frame, encoded once by dispatch for all the channel's watchers.
type out struct {
	kind    realtime.Kind
	version int
	frame   []byte
}

// HandleReconnect implements realtime.Handler: messages may have been lost while the broker
// link was down, so drop both caches and re-read the released tally of every poll this replica
// serves and push it to its watchers (connections drop anything not newer than what they hold).
func (h *Hub) HandleReconnect() { h.HandleReconnectOf(nil) }

// HandleReconnectOf implements realtime.PartialHandler: one shard of a sharded broker came
// back, and only the polls it carries (all when carries is nil) are re-read. The grants are
// all dropped: a removal on any channel may have been missed, and they refill on demand.
func (h *Hub) HandleReconnectOf(carries func(channel string) bool) {
	h.m.BrokerReconnect()
	h.authz.reset()
	h.mu.RLock()
	var polls []*channel
	for name, ch := range h.channels {
		if ch.snap.poll && (carries == nil || carries(name)) {
			ch.snap.drop()
			polls = append(polls, ch)
		}
	}
	h.mu.RUnlock()
	go h.refreshPolls(polls)
}

func (h *Hub) refreshPolls(polls []*channel) {
	for _, ch := range polls {
		name := ch.name
		ctx, cancel := context.WithTimeout(h.ctx, h.lim.SnapshotTimeout)
		snap, err := h.readSnapshot(ctx, ch)
		cancel()
		var gone *frames.Error
		if errors.As(err, &gone) && gone.Code == frames.CodePollNotFound {
			// Deleted or hidden while the link was down, and its "ended" message lost with it.
			// The two cannot be told apart now; "deleted" tells a client all it needs.
			h.endChannel(name, "", realtime.EndedDeleted)
			continue
		}
		if err != nil {
			if h.ctx.Err() != nil {
				return
			}
			h.log.Warn("live: re-read after broker reconnect failed", zap.String("channel", name), zap.Error(err))
			continue
		}
		h.HandleMessage(realtime.Message{Channel: name, Kind: realtime.KindTally, Version: snap.Version,
			Type: frames.TypeTally, Data: snap.Data, Compact: snap.Compact})
	}
}

// removeUser ends userID's subscriptions to circleID and its polls on this replica; an empty
// userID ends everyone's (the circle was deleted).
func (h *Hub) removeUser(userID, circleID string) {
	// First: a subscribe that starts after this must not find the grant (conn.gen guards
	// only the subscribes already under way).
	h.authz.remove(userID, circleID)
	h.mu.RLock()
	var conns []*conn
	if userID == "" {
		conns = make([]*conn, 0, len(h.conns))
		for c := range h.conns {
			conns = append(conns, c)
		}
	} else {
		for c := range h.byUser[userID] {
			conns = append(conns, c)
		}
	}
	h.mu.RUnlock()
	for _, c := range conns {
		for _, name := range c.removeCircle(circleID) {
			h.unwatch(c, name)
		}
	}
}

// endAccount closes every connection of a deleted account with 4001 and refuses new ones.
func (h *Hub) endAccount(userID string) {
	if userID == "" {
		return
	}
	// First: register checks the list under h.mu, so a connection either is in byUser below
	// or is refused.
	h.gone.Mark(userID, time.Now())
	h.mu.RLock()
	conns := make([]*conn, 0, len(h.byUser[userID]))
	for c := range h.byUser[userID] {
		conns = append(conns, c)
	}
	h.mu.RUnlock()
	for _, c := range conns {
		c.close(CloseUnauthorized, "account deleted", "account_deleted")
	}
}

// endChannel ends every local subscription to a channel that no longer exists for its
// watchers (a deleted or hidden poll): each gets `unsubscribed` with the reason.
func (h *Hub) endChannel(name, circleID, reason string) {
	// First: a subscribe that starts after this must not find a grant or a cached snapshot.
	h.authz.removeChannel(name, circleID)
	h.mu.RLock()
	ch := h.channels[name]
	var conns []*conn
	if ch != nil {
		ch.snap.drop()
		conns = make([]*conn, 0, len(ch.watchers))
		for c := range ch.watchers {
			conns = append(conns, c)
		}
	}
	h.mu.RUnlock()
	for _, c := range conns {
		if c.endSub(name, reason) {
			h.unwatch(c, name)
		}
	}
}

// watch registers s as a watcher of its channel and makes sure the broker delivers it. Once it
// returns the channel without error, every later message of the channel reaches s.
func (h *Hub) watch(c *conn, s *sub) (*channel, error) {
	h.mu.Lock()
	ch := h.channels[s.channel]
	if ch == nil {
		ch = &channel{name: s.channel, watchers: map[*conn]*sub{}, snap: newSnapCache(s.channel)}
		h.channels[s.channel] = ch
	}
	ch.watchers[c] = s
	h.mu.Unlock()

	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.subscribed {
		return ch, nil
	}
	ctx, cancel := context.WithTimeout(h.ctx, h.lim.SnapshotTimeout)
	defer cancel()
	if err := h.broker.Subscribe(ctx, s.channel); err != nil {
		// The caller drops the subscription and calls unwatch, which forgets the channel
		// (and un-wants it at the broker) if nobody else watches it.
		return nil, err
	}
	ch.subscribed = true
	ch.snap.setLive(true)
	return ch, nil
}

// unwatch removes c from a channel's watchers; the last one leaving unsubscribes the broker.
func (h *Hub) unwatch(c *conn, name string) {
	h.mu.Lock()
	ch := h.channels[name]
	if ch == nil {
		h.mu.Unlock()
		return
	}
	delete(ch.watchers, c)
	empty := len(ch.watchers) == 0
	h.mu.Unlock()
	if !empty {
		return
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	h.mu.Lock()
	if len(ch.watchers) != 0 || h.channels[name] != ch {
		h.mu.Unlock()
		return
	}
	ch.subscribed = false
	ch.snap.setLive(false) // a watcher reusing this struct must not get what it held
	h.mu.Unlock()
	// Also after a failed Subscribe: a broker may keep a channel wanted when the call timed out.
	ctx, cancel := context.WithTimeout(h.ctx, h.lim.SnapshotTimeout)
	if err := h.broker.Unsubscribe(ctx, name); err != nil && h.ctx.Err() == nil {
		h.log.Warn("live: broker unsubscribe failed", zap.String("channel", name), zap.Error(err))
	}
	cancel()
	h.mu.Lock()
	// A watcher that arrived meanwhile waits on ch.mu and subscribes again; otherwise forget it.
	if len(ch.watchers) == 0 && h.channels[name] == ch {
		delete(h.channels, name)
	}
	h.mu.Unlock()
}

// register adds an authenticated connection; it fails while draining.
func (h *Hub) register(c *conn) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		return ErrDraining
	}
	if h.gone.Has(c.userID, time.Now()) {
		return ErrAccountGone
	}
	h.conns[c] = struct{}{}
	set := h.byUser[c.userID]
	if set == nil {
		set = map[*conn]struct{}{}
		h.byUser[c.userID] = set
	}
	set[c] = struct{}{}
	h.m.ConnOpened()
	return nil
}

// unregister removes a connection and all its subscriptions.
func (h *Hub) unregister(c *conn) {
	for _, name := range c.channelNames() {
		h.unwatch(c, name)
	}
	h.mu.Lock()
	if _, ok := h.conns[c]; ok {
		delete(h.conns, c)
		h.m.ConnClosed()
	}
	if set := h.byUser[c.userID]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(h.byUser, c.userID)
		}
	}
	var done chan struct{}
	if h.closing && len(h.conns) == 0 {
		done, h.done = h.done, nil
	}
	h.mu.Unlock()
	if done != nil {
		close(done)
	}
}
