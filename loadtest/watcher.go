package loadtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// Watcher is one live connection: a user's token, the replica it dials and the channels it
// subscribes to (polls by index into the tracker, plus any other channels).
type Watcher struct {
	URL   string // ws://…/v1/ws
	Token string
	Polls []int
	Other []string

	mu      sync.Mutex
	conn    *websocket.Conn
	state   []held // per entry of Polls
	late    []pending
	buf     bytes.Buffer
	acks    int           // subscribed answers on the current connection
	subAt   atomic.Int64  // tracker time of the last complete subscription, 0 = never
	first   bool          // the first subscription's snapshots are not latencies
	refused bool          // an error frame came before the subscriptions were complete
	slot    bool          // holds a dial slot (reader goroutine only)
	counted bool          // the current connection counts in Fleet.Subscribed
	retry   time.Duration // last resubscribe backoff
}

// Fleet runs watchers: dials them with bounded concurrency, reads their frames, and redials
// those that drop when Reconnect is set.
type Fleet struct {
	Tracker   *Tracker
	HTTP      *http.Client // dials through Sources; no timeout (contexts bound the handshakes)
	DialSlots chan struct{}
	Reconnect bool
	// Centrifuge speaks the peer's protocol (bench/peer: Centrifuge's JSON protocol) instead
	// of Circly's: the token goes in a connect command, not the handshake's header.
	Centrifuge bool

	Watchers    []*Watcher
	Subscribed  atomic.Int64 // watchers whose current connection holds all its subscriptions
	Disconnects atomic.Int64
	Failed      atomic.Int64 // watchers that gave up (no Reconnect) or had a subscription refused
	Retries     atomic.Int64 // subscriptions sent again after a server error

	mu          sync.Mutex
	dialErrors  map[string]int
	errorFrames map[string]int
	closes      map[string]int
	wg          sync.WaitGroup
	stopping    atomic.Bool
}

// NewFleet makes a fleet whose handshakes go through client, at most dialConcurrency at a time.
func NewFleet(tr *Tracker, client *http.Client, dialConcurrency int) *Fleet {
	return &Fleet{Tracker: tr, HTTP: client, DialSlots: make(chan struct{}, max(dialConcurrency, 1)),
		dialErrors: map[string]int{}, errorFrames: map[string]int{}, closes: map[string]int{}}
}

func (f *Fleet) count(m map[string]int, key string) {
	f.mu.Lock()
	m[key]++
	f.mu.Unlock()
}

// Start launches every watcher's goroutine; Subscribed counts those that are fully subscribed.
func (f *Fleet) Start(ctx context.Context, ws []*Watcher) {
	for _, w := range ws {
		w.state = make([]held, len(w.Polls))
		for i := range w.state {
			w.state[i].version = -1
		}
		w.first = true
		f.Watchers = append(f.Watchers, w)
		f.wg.Add(1)
		go f.run(ctx, w)
	}
}

// WaitSubscribed waits until n watchers are subscribed (or have failed), or the timeout; it
// returns how many are subscribed.
func (f *Fleet) WaitSubscribed(n int64, timeout time.Duration) int64 {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if s := f.Subscribed.Load(); s+f.Failed.Load() >= n {
			return s
		}
		time.Sleep(5 * time.Millisecond)
	}
	return f.Subscribed.Load()
}

// SubscribedSince counts watchers whose last complete subscription is later than t.
func (f *Fleet) SubscribedSince(t int64) int {
	n := 0
	for _, w := range f.Watchers {
		if w.subAt.Load() > t {
			n++
		}
	}
	return n
}

// DropAll cuts every connection at once without a close handshake (what a network failure or a
// crashed replica looks like to the server); with Reconnect set they all redial.
func (f *Fleet) DropAll() {
	for _, w := range f.Watchers {
		w.mu.Lock()
		if w.conn != nil {
			_ = w.conn.CloseNow()
		}
		w.mu.Unlock()
	}
}

// Stop closes every connection and waits for the goroutines; it settles kept-aside latencies
// and returns the number of received versions no vote answer accounted for.
func (f *Fleet) Stop() int {
	// Cut the connections without a close handshake: a handshake per connection, one after
	// another, takes minutes when a backlog sits in the sockets, and frames read meanwhile
	// would count as latencies (the readers ignore frames once stopping is set).
	f.stopping.Store(true)
	f.DropAll()
	f.wg.Wait()
	orphans := 0
	for _, w := range f.Watchers {
		orphans += f.Tracker.settle(w.late)
		w.late = nil
	}
	return orphans
}

func (f *Fleet) run(ctx context.Context, w *Watcher) {
	defer f.wg.Done()
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil && !f.stopping.Load() {
		err := f.session(ctx, w)
		if f.stopping.Load() || ctx.Err() != nil {
			return
		}
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			f.count(f.closes, strconv.Itoa(int(ce.Code)))
		}
		if !f.Reconnect {
			if err != nil {
				f.count(f.closes, "ended: "+short(err))
			}
			f.Failed.Add(1)
			return
		}
		f.Disconnects.Add(1)
		if errors.Is(err, errDial) {
			// The replica refuses or is down (a restart): back off with jitter so the
			// redials spread out instead of arriving in lockstep.
			time.Sleep(backoff/2 + rand.N(backoff))
			backoff = min(backoff*2, 2*time.Second)
		} else {
			backoff = 50 * time.Millisecond
		}
	}
}

var errDial = errors.New("dial failed")

// session is one connection: dial, wait for ready, subscribe, then read until it ends.
func (f *Fleet) session(ctx context.Context, w *Watcher) error {
	select {
	case f.DialSlots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	hdr := http.Header{"Authorization": {"Bearer " + w.Token}}
	if f.Centrifuge {
		hdr = nil
	}
	c, resp, err := websocket.Dial(dctx, w.URL, &websocket.DialOptions{
		HTTPClient:      f.HTTP,
		HTTPHeader:      hdr,
		CompressionMode: websocket.CompressionDisabled,
	})
	cancel()
	if err != nil {
		<-f.DialSlots
		key := short(err)
		if resp != nil {
			key = "HTTP " + strconv.Itoa(resp.StatusCode)
			if resp.Body != nil {
				_ = resp.Body.Close()
			}
		}
		f.count(f.dialErrors, key)
		if resp != nil && resp.StatusCode == http.StatusTooManyRequests {
			// The 11th socket of one user on one replica: the contract's limit, a setting here.
			return fmt.Errorf("%w: %v (the server's WS_MAX_CONNS_PER_USER setting refused it: raise it for load tests that open many sockets per user)", errDial, err)
		}
		return fmt.Errorf("%w: %v", errDial, err)
	}
	c.SetReadLimit(1 << 20)
	w.mu.Lock()
	w.conn, w.acks = c, 0
	w.mu.Unlock()
	// The slot is held until every subscription is answered (or the session ends), so dial
	// concurrency bounds the handshakes and subscriptions in flight, as a pool of apps
	// reconnecting with a connect timeout would.
	w.slot = true
	err = f.subscribe(ctx, w, c)
	if err == nil {
		err = f.read(w, c)
	}
	f.releaseSlot(w)
	w.mu.Lock()
	if w.counted {
		w.counted = false
		f.Subscribed.Add(-1)
	}
	w.conn = nil
	w.mu.Unlock()
	_ = c.CloseNow()
	return err
}

// subscribe waits for ready (on the peer: sends connect and waits for its reply) and then sends
// every subscribe frame without waiting for answers.
func (f *Fleet) subscribe(ctx context.Context, w *Watcher, c *websocket.Conn) error {
	if f.Centrifuge {
		if err := f.write(ctx, c, centrifugeConnect(w.Token)); err != nil {
			return err
		}
	}
	if err := f.next(w, c, true); err != nil {
		return err
	}
	if len(w.Polls)+len(w.Other) == 0 {
		f.complete(w)
		return nil
	}
	var b []byte
	id := 0
	send := func(ch string) error {
		id++
		b = f.subscribeFrame(b[:0], int64(id), ch)
		return f.write(ctx, c, b)
	}
	for _, p := range w.Polls {
		if err := send("poll:" + f.Tracker.ids[p]); err != nil {
			return err
		}
	}
	for _, ch := range w.Other {
		if err := send(ch); err != nil {
			return err
		}
	}
	return nil
}

// subscribeFrame is the subscribe command of the fleet's protocol.
func (f *Fleet) subscribeFrame(b []byte, id int64, ch string) []byte {
	if f.Centrifuge {
		b = append(b, `{"id":`...)
		b = strconv.AppendInt(b, id, 10)
		b = append(b, `,"subscribe":{"channel":"`...)
		b = append(b, ch...)
		return append(b, `"}}`...)
	}
	b = append(b, `{"type":"subscribe","id":`...)
	b = strconv.AppendInt(b, id, 10)
	b = append(b, `,"channel":"`...)
	b = append(b, ch...)
	return append(b, `"}`...)
}

// centrifugeConnect is the connect command with the token.
func centrifugeConnect(token string) []byte {
	b := append([]byte(`{"id":`), strconv.Itoa(centrifugeConnectID)...)
	b = append(b, `,"connect":{"token":"`...)
	b = append(b, token...) // a JWT holds no character JSON escapes
	return append(b, `","name":"circly-loadgen"}}`...)
}

func (f *Fleet) write(ctx context.Context, c *websocket.Conn, b []byte) error {
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return c.Write(wctx, websocket.MessageText, b)
}

// releaseSlot gives back the watcher's dial slot if it holds one (reader goroutine only).
func (f *Fleet) releaseSlot(w *Watcher) {
	if w.slot {
		w.slot = false
		<-f.DialSlots
	}
}

func (f *Fleet) complete(w *Watcher) {
	f.releaseSlot(w)
	w.retry = 0
	w.subAt.Store(f.Tracker.Now())
	w.first = false
	w.mu.Lock()
	w.counted = true
	w.mu.Unlock()
	f.Subscribed.Add(1)
}

func (f *Fleet) read(w *Watcher, c *websocket.Conn) error {
	for {
		if err := f.next(w, c, false); err != nil {
			return err
		}
	}
}

// next reads and handles one message; wantReady demands the ready frame first. A Circly
// message is one frame; a Centrifuge message is one or more lines, a frame each.
func (f *Fleet) next(w *Watcher, c *websocket.Conn, wantReady bool) error {
	_, r, err := c.Reader(context.Background())
	if err != nil {
		return err
	}
	w.buf.Reset()
	if _, err := w.buf.ReadFrom(r); err != nil {
		return err
	}
	if f.stopping.Load() {
		return nil
	}
	now := f.Tracker.Now()
	msg := w.buf.Bytes()
	if !f.Centrifuge {
		return f.handle(w, c, msg, now, wantReady)
	}
	for len(msg) > 0 {
		line := msg
		if i := bytes.IndexByte(msg, '\n'); i >= 0 {
			line, msg = msg[:i], msg[i+1:]
		} else {
			msg = nil
		}
		if len(line) == 0 {
			continue
		}
		if err := f.handle(w, c, line, now, wantReady); err != nil {
			return err
		}
		wantReady = false
	}
	return nil
}

// handle acts on one frame received at now.
func (f *Fleet) handle(w *Watcher, c *websocket.Conn, b []byte, now int64, wantReady bool) error {
	parse := parseFrame
	if f.Centrifuge {
		parse = parseCentrifuge
	}
	fr, err := parse(b)
	if err != nil {
		f.count(f.errorFrames, "unparsable frame")
		return nil
	}
	typ := string(fr.Type)
	if wantReady {
		if typ != "ready" {
			return fmt.Errorf("first frame %q, not ready", typ)
		}
		return nil
	}
	if typ == "subscribed" && f.Centrifuge {
		fr.Channel = []byte(w.channel(f.Tracker, fr.ID)) // a Centrifuge reply names only the id
	}
	switch typ {
	case "tally", "poll_closed", "subscribed":
		if typ == "subscribed" {
			f.Tracker.Snapshots.Add(1)
			w.mu.Lock()
			w.acks++
			done := w.acks == len(w.Polls)+len(w.Other)
			w.mu.Unlock()
			defer func() {
				if done {
					f.complete(w)
				}
			}()
		} else {
			f.Tracker.Frames.Add(1)
			f.Tracker.Bytes.Add(int64(len(b)))
		}
		if fr.Version < 0 || !bytes.HasPrefix(fr.Channel, []byte("poll:")) {
			return nil
		}
		p := f.Tracker.Poll(fr.Channel[len("poll:"):])
		if i := w.local(p); i >= 0 {
			w.mu.Lock() // Staleness reads the state while frames still arrive
			f.Tracker.advance(&w.state[i], p, fr.Version, now, typ != "subscribed" || !w.first, &w.late)
			w.mu.Unlock()
		}
	case "ping": // Centrifuge's application ping: answer with {}
		if f.Centrifuge {
			return f.write(context.Background(), c, []byte("{}"))
		}
	case "error":
		f.count(f.errorFrames, string(fr.Code))
		if ch := w.channel(f.Tracker, fr.ID); ch != "" && retryable(string(fr.Code)) {
			// The server could not answer in time (overload): subscribe again after a pause,
			// as an app would. Everything else (a refusal) leaves the watcher incomplete.
			f.Retries.Add(1)
			w.retry = min(max(2*w.retry, time.Second), 8*time.Second) // exponential backoff
			time.AfterFunc(w.retry/2+rand.N(w.retry), func() { f.resubscribe(w, c, fr.ID, ch) })
			return nil
		}
		w.mu.Lock()
		refused := w.acks < len(w.Polls)+len(w.Other) && !w.refused
		w.refused = w.refused || refused
		w.mu.Unlock()
		if refused {
			f.Failed.Add(1) // a subscription refused: this watcher will never be complete
			f.releaseSlot(w)
		}
	case "reconnect", "pong", "event", "notification", "unsubscribed", "other":
	default:
		f.count(f.errorFrames, "unexpected frame "+typ)
	}
	return nil
}

// retryable error codes are the server's own trouble, not a refusal of this client.
func retryable(code string) bool {
	return code == "INTERNAL_ERROR" || code == "DATABASE_ERROR" || code == "SERVICE_UNAVAILABLE" ||
		code == "centrifuge 100" // Centrifuge's internal server error
}

// channel is the channel subscribed with frame id (ids are 1-based positions: polls, then Other).
func (w *Watcher) channel(tr *Tracker, id int64) string {
	switch i := int(id) - 1; {
	case i >= 0 && i < len(w.Polls):
		return "poll:" + tr.ids[w.Polls[i]]
	case i >= len(w.Polls) && i < len(w.Polls)+len(w.Other):
		return w.Other[i-len(w.Polls)]
	}
	return ""
}

// resubscribe sends one subscribe frame again on c, if c is still the watcher's connection.
func (f *Fleet) resubscribe(w *Watcher, c *websocket.Conn, id int64, ch string) {
	w.mu.Lock()
	current := w.conn == c
	w.mu.Unlock()
	if !current {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = c.Write(ctx, websocket.MessageText, f.subscribeFrame(nil, id, ch))
}

// local is the position of poll p in w.Polls, or -1. Scenarios give each watcher a run of
// consecutive poll indices, so the first guess almost always hits.
func (w *Watcher) local(p int) int {
	if p < 0 || len(w.Polls) == 0 {
		return -1
	}
	if i := p - w.Polls[0]; i >= 0 && i < len(w.Polls) && w.Polls[i] == p {
		return i
	}
	for i, q := range w.Polls {
		if q == p {
			return i
		}
	}
	return -1
}

// Counts returns copies of the error tallies: failed dials, error frames, close codes.
func (f *Fleet) Counts() (dials, frames, closes map[string]int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cp := func(m map[string]int) map[string]int {
		out := make(map[string]int, len(m))
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	return cp(f.dialErrors), cp(f.errorFrames), cp(f.closes)
}

// Staleness checks every watcher against the final version of each poll it watches: it
// returns the number of watchers holding an older version on any poll and, when record is set,
// records for each (watcher, poll) that had votes the time from the poll's last vote to the
// final version.
func (f *Fleet) Staleness(record bool) (stale int) {
	tr := f.Tracker
	for _, w := range f.Watchers {
		w.mu.Lock()
		behind := false
		for i, p := range w.Polls {
			fin := tr.Final(p)
			h := w.state[i]
			if h.version < fin {
				behind = true
				continue
			}
			if record && tr.Votes(p) > 0 {
				if s := tr.sentAt(p, fin); s >= 0 {
					tr.Convergence.Record(time.Duration(h.at - s))
				}
			}
		}
		w.mu.Unlock()
		if behind {
			stale++
		}
	}
	return stale
}

func short(err error) string {
	s := err.Error()
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}
