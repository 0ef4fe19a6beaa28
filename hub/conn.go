package hub

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"circly/frames"
	"circly/realtime"

	"go.uber.org/zap"
)

// Close codes of the contract.
const (
	CloseGoingAway    = 1001
	ClosePolicy       = 1008
	CloseTooBig       = 1009
	CloseTryLater     = 1013 // the database is unreachable: the client reconnects after a pause
	CloseUnauthorized = 4001
	CloseSlowConsumer = 4008
)

// sub is one channel subscription of one connection. Until its `subscribed` frame is queued
// (active false) messages of the channel are held, so that the frame precedes them.
type sub struct {
	channel  string
	circleID string
	active   bool
	gone     bool  // unsubscribed or removed: drop its pending tally
	held     []out // while pending: the highest tally and the ordered frames
	sent     int   // highest tally version queued after the snapshot
	tally    out   // the newest tally not yet written (when hasTally)
	hasTally bool  // a marker for tally sits in the queue
}

type itemKind uint8

const (
	itemFrame itemKind = iota // an ordered frame
	itemTally                 // marker: write the sub's newest pending tally
	itemFinal                 // an ordered frame that also raises the sub's version
	itemClose                 // write frame (if any), then close with code
	itemPing                  // send a control ping
)

type item struct {
	kind    itemKind
	frame   []byte
	s       *sub
	version int
	code    int
	reason  string
}

// conn is one client connection. Nothing runs for it while it is idle but the read loop in
// the handler's goroutine: a writer of the hub's pool (writers.go) takes it when a frame is
// queued, and pings come from the hub's sweep.
type conn struct {
	h      *Hub
	t      Transport
	userID string

	mu      sync.Mutex
	subs    map[string]*sub
	queue   []item
	spare   []item
	events  int // ordered items waiting (tally markers excluded)
	writing bool
	closed  bool
	removed map[string]uint64 // circle id → removal generation (see removeCircle)
	gen     uint64

	writeStart atomic.Int64 // unix nanos of the write in progress, 0 when none
	// Pings are the sweep's alone (hub.sweep): when the next is due, and while one is out,
	// when it was queued and how many pongs the transport had counted then.
	nextPing    int64 // unix nanos
	pingSent    int64 // unix nanos, 0 when no ping is out
	pongsBefore uint64
	// compact: asked for compact tallies (Session.CompactTally); never changes.
	compact bool
	errors  int // error frames sent; read loop only
}

func newConn(h *Hub, t Transport, userID string, compact bool) *conn {
	c := &conn{h: h, t: t, userID: userID, compact: compact}
	c.nextPing = time.Now().Add(firstPing(h.lim.PingInterval)).UnixNano()
	return c
}

// deliver queues m for s without blocking.
func (c *conn) deliver(s *sub, m out) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || s.gone {
		return
	}
	if !s.active {
		c.hold(s, m)
		return
	}
	c.enqueueLocked(s, m)
}

// hold keeps a message that arrived before the channel's snapshot: one tally (the highest)
// and the ordered frames, within the event bound.
func (c *conn) hold(s *sub, m out) {
	if m.kind == realtime.KindTally {
		for i := range s.held {
			if s.held[i].kind == realtime.KindTally {
				if m.version > s.held[i].version {
					s.held[i] = m
				}
				c.h.m.Dropped("conflated")
				return
			}
		}
	}
	if len(s.held) >= c.h.lim.EventQueue {
		c.closeLocked(CloseSlowConsumer, "slow consumer", "slow_consumer")
		return
	}
	s.held = append(s.held, m)
}

func (c *conn) enqueueLocked(s *sub, m out) {
	switch m.kind {
	case realtime.KindTally:
		if m.version <= s.sent {
			c.h.m.Dropped("stale")
			return
		}
		if s.hasTally {
			if m.version > s.tally.version {
				s.tally = m
			}
			c.h.m.Dropped("conflated")
			return
		}
		s.tally, s.hasTally = m, true
		c.push(item{kind: itemTally, s: s})
	case realtime.KindFinal:
		c.pushEvent(item{kind: itemFinal, frame: m.frame, s: s, version: m.version})
	default:
		c.pushEvent(item{kind: itemFrame, frame: m.frame, s: s})
	}
}

// send queues a frame of the connection itself (ready, subscribed, error, pong, ...).
func (c *conn) send(frame []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.pushEvent(item{kind: itemFrame, frame: frame})
	}
}

func (c *conn) pushEvent(it item) {
	if c.events >= c.h.lim.EventQueue {
		c.closeLocked(CloseSlowConsumer, "slow consumer", "slow_consumer")
		return
	}
	c.events++
	c.push(it)
}

func (c *conn) push(it item) {
	c.queue = append(c.queue, it)
	if !c.writing {
		c.writing = true
		c.h.writers.start(c)
	}
}

// writeBatch writes the frames queued so far and says whether more have been queued
// meanwhile (the connection then stays marked writing and goes back to the writers' line).
func (c *conn) writeBatch() (more bool) {
	c.mu.Lock()
	if len(c.queue) == 0 || c.closed {
		c.writing = false
		c.mu.Unlock()
		return false
	}
	batch := c.queue
	c.queue, c.spare = c.spare[:0], nil
	c.mu.Unlock()

	for i := range batch {
		if !c.write(&batch[i]) {
			c.mu.Lock()
			c.writing = false
			c.mu.Unlock()
			return false
		}
		batch[i] = item{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.spare = batch[:0]
	if len(c.queue) == 0 || c.closed {
		c.writing = false
		return false
	}
	return true
}

// write sends one item; false ends the connection's writing (it is closing).
func (c *conn) write(it *item) bool {
	frame := it.frame
	c.mu.Lock()
	switch it.kind {
	case itemTally:
		t, has := it.s.tally, it.s.hasTally
		it.s.tally, it.s.hasTally = out{}, false
		if it.s.gone || !has || t.version <= it.s.sent {
			c.mu.Unlock()
			return true
		}
		it.s.sent = t.version
		frame = t.frame
	case itemFinal:
		// Ordered frames queued before an unsubscribe or removal still go out: they precede
		// the `unsubscribed` frame.
		c.events--
		it.s.sent = max(it.s.sent, it.version)
	case itemFrame:
		c.events--
	}
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return false
	}
	if frame != nil || it.kind == itemPing {
		// The hub's sweep enforces the write timeout through writeStart.
		c.writeStart.Store(time.Now().UnixNano())
		err := c.transmit(it, frame)
		c.writeStart.Store(0)
		if err != nil {
			c.close(CloseGoingAway, "write failed", "write_error")
			return false
		}
		if frame != nil {
			c.h.m.FrameSent()
		}
	}
	if it.kind == itemClose {
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		code, reason := it.code, it.reason
		go func() { _ = c.t.Close(code, reason) }()
		return false
	}
	return true
}

// transmit hands one item to the transport: a ping, a broker message's frame (the same slice
// for every watcher, so a SharedWriter may encode it once), or one of the connection's own.
// A background context: Write then sets up no per-message timer.
func (c *conn) transmit(it *item, frame []byte) error {
	if it.kind == itemPing {
		return c.t.Ping()
	}
	if sw, ok := c.t.(SharedWriter); ok && it.s != nil && it.kind != itemClose {
		return sw.WriteShared(frame)
	}
	return c.t.Write(context.Background(), frame)
}

// closeAfter queues frame and then a close: used by the drain, so the reconnect frame is the
// last thing the client reads.
func (c *conn) closeAfter(frame []byte, code int, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.push(item{kind: itemClose, frame: frame, code: code, reason: reason})
}

func (c *conn) close(code int, reason, metric string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked(code, reason, metric)
}

// closeLocked closes the connection once, without waiting: the close handshake runs in its
// own goroutine (a slow client must never hold up the publisher).
func (c *conn) closeLocked(code int, reason, metric string) {
	if c.closed {
		return
	}
	c.closed = true
	c.queue, c.spare, c.events = nil, nil, 0
	if metric != "" {
		c.h.m.Dropped(metric)
	}
	c.h.log.Debug("live: closing connection", zap.Int("code", code), zap.String("reason", reason))
	go func() { _ = c.t.Close(code, reason) }()
}

// SharedWriter is a Transport that can send a message the hub fans out: the same slice, never
// changed afterwards, for every watcher of it, so the transport may encode it once for all.
type SharedWriter interface {
	WriteShared(p []byte) error
}

// Aborter is a Transport that can also drop its connection at once, with no close frame.
type Aborter interface {
	Abort() error
}

// abandon closes a connection whose transport has already ended (its Read failed: the client
// went away, or the transport answered a close or a protocol error itself). A close frame
// could only fail to arrive, and the connect profile showed writing it as 6 % of a connect's
// and disconnect's CPU; an Aborter just lets go of the socket.
func (c *conn) abandon() {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.t.(Aborter)
	if !ok || c.closed {
		c.closeLocked(CloseGoingAway, "", "")
		return
	}
	c.closed = true
	c.queue, c.spare, c.events = nil, nil, 0
	go func() { _ = a.Abort() }()
}

// addSub registers a pending subscription; false when the channel is already subscribed or
// the connection is full.
func (c *conn) addSub(channel, circleID string, since uint64) (*sub, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.subs[channel]; ok {
		return nil, "dup"
	}
	if len(c.subs) >= c.h.lim.MaxChannels {
		return nil, "full"
	}
	if circleID != "" && c.removed[circleID] > since {
		return nil, "removed" // removed from the circle while this subscribe was authorized
	}
	if c.subs == nil {
		c.subs = map[string]*sub{}
	}
	s := &sub{channel: channel, circleID: circleID}
	c.subs[channel] = s
	return s, ""
}

// generation is read before authorizing a subscribe; see addSub.
func (c *conn) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// activate queues the `subscribed` frame with the snapshot and then what was held meanwhile.
func (c *conn) activate(s *sub, frame []byte, version int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || s.gone {
		return
	}
	s.active = true
	s.sent = version
	c.pushEvent(item{kind: itemFrame, frame: frame})
	held := s.held
	s.held = nil
	for _, m := range held {
		c.enqueueLocked(s, m)
	}
}

// dropSub forgets a subscription (unsubscribe or failed subscribe).
func (c *conn) dropSub(channel string) bool { return c.endSub(channel, "") }

// endSub ends a subscription; with a reason, the client did not ask for it and is told why.
func (c *conn) endSub(channel, reason string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.subs[channel]
	if !ok {
		return false
	}
	s.gone, s.held, s.hasTally = true, nil, false
	delete(c.subs, channel)
	if reason != "" && !c.closed {
		c.pushEvent(item{kind: itemFrame, frame: frames.Unsubscribed(nil, channel, reason)})
	}
	return true
}

func (c *conn) hasSub(channel string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.subs[channel]
	return ok
}

// removeCircle ends the subscriptions that belong to circleID, queues an `unsubscribed`
// frame with reason "removed" for each, and returns their channel names.
func (c *conn) removeCircle(circleID string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if c.removed == nil {
		c.removed = map[string]uint64{}
	}
	if len(c.removed) >= 1000 {
		clear(c.removed) // bounded; a subscribe racing a removal this old is long settled
	}
	c.removed[circleID] = c.gen
	var names []string
	for name, s := range c.subs {
		if s.circleID != circleID {
			continue
		}
		s.gone, s.held, s.hasTally = true, nil, false
		delete(c.subs, name)
		names = append(names, name)
		if !c.closed {
			c.pushEvent(item{kind: itemFrame, frame: frames.Unsubscribed(nil, name, "removed")})
		}
	}
	return names
}

func (c *conn) channelNames() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	names := make([]string, 0, len(c.subs))
	for name, s := range c.subs {
		s.gone = true
		names = append(names, name)
	}
	c.subs = nil
	return names
}

// firstPing is when a new connection is first pinged: at a random point of the second half of
// the interval. Connections come in bursts (a deploy, a reconnect storm), and pinged all at once
// a replica would write every ping in the same second and read every pong in the next. Spread
// out, a few hundred go out at a time, and the interval still bounds the first ping.
func firstPing(interval time.Duration) time.Duration {
	return interval/2 + rand.N(interval/2+1)
}

// queuePing puts a control ping in the connection's queue: a writer sends it, so the sweep
// never waits on a socket and no goroutine waits for the pong (the transport counts pongs, and
// the sweep looks at the count on its next rounds).
func (c *conn) queuePing() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.push(item{kind: itemPing})
	}
}
