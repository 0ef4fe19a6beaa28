package loadtest

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"time"
)

// Config is one run of the generator (cmd/circly-loadgen fills it from flags).
type Config struct {
	Scenario  string   // classroom, hot, idle, storm, fixtures, results
	Protocol  string   // circly (default) or centrifuge: the peer of bench/peer
	PeerURL   string   // centrifuge: the peer's base URL (WebSocket and POST /publish)
	PeerKey   string   // centrifuge: the peer's secret (signs tokens, is the publish API key)
	VoteURL   string   // replica A: setup and votes
	WatchURLs []string // replicas the watchers dial (round robin)
	WSPath    string   // /v1/ws

	Circles, Members, PollsPerCircle int // classroom, storm; hot uses one circle
	Watchers                         int // hot
	Conns                            int // idle
	ConnsPerUser                     int // idle, hot: connections opened per user
	SubscribeUser                    bool

	Rate     float64       // votes/s
	Duration time.Duration // voting (classroom, hot) or holding (idle) window
	Voters   int           // concurrent vote requests
	Settle   time.Duration // quiet time after the last vote before the final stale check

	DialConcurrency  int
	SetupConcurrency int
	Sources          int // source addresses 127.0.0.2 …
	RcvBuf           int // SO_RCVBUF of watcher sockets; 0 = kernel default
	StormMode        string
	StormTimeout     time.Duration

	Fixtures   string // fixtures: the JSON file to write
	Population string // classroom, storm, fixtures: reuse users and circles saved here (saved on first use)

	Pids map[string]int // server processes to sample: name → pid
	Out  io.Writer
}

// Run sets up and runs the scenario, printing the figures to c.Out.
func Run(ctx context.Context, c Config) error {
	src := NewSources(2, c.Sources)
	rest := &REST{Base: c.VoteURL, Client: NewHTTPClient(src, max(c.Voters, c.SetupConcurrency))}
	prefix := fmt.Sprintf("lg%x", rand.Uint32())
	rep := &reporter{w: c.Out}
	switch c.Protocol {
	case "", ProtoCircly:
		c.Protocol = ProtoCircly
	case ProtoCentrifuge:
		if c.PeerURL == "" || c.PeerKey == "" {
			return fmt.Errorf("-protocol centrifuge needs -peer <url> and -peer-secret (the peer's PEER_SECRET)")
		}
		if c.Scenario == "fixtures" {
			return fmt.Errorf("the fixtures scenario is for Circly (k6)")
		}
		// Everything goes to the peer: it has no REST API, so the population is made here.
		c.WatchURLs, c.WSPath = []string{c.PeerURL}, "/connection/websocket"
		rep.peer = true
	default:
		return fmt.Errorf("unknown protocol %q (circly, centrifuge)", c.Protocol)
	}
	rep.kv("scenario", c.Scenario+" ("+c.Protocol+")")
	rep.kv("load average at start", LoadAvg())
	switch c.Scenario {
	case "classroom", "storm":
		return runCircles(ctx, c, rest, src, prefix, rep)
	case "hot":
		return runHot(ctx, c, rest, src, prefix, rep)
	case "idle":
		return runIdle(ctx, c, rest, src, prefix, rep)
	case "fixtures":
		return runFixtures(ctx, c, rest, prefix, rep)
	case "results":
		return runResults(ctx, c, rest, src, prefix, rep)
	}
	return fmt.Errorf("unknown scenario %q (classroom, hot, idle, storm, fixtures, results)", c.Scenario)
}

// Protocols the generator speaks.
const (
	ProtoCircly     = "circly"
	ProtoCentrifuge = "centrifuge"
)

func (c Config) peer() bool { return c.Protocol == ProtoCentrifuge }

// sender delivers ballots: votes through REST on Circly, tallies published to the peer.
func (c Config) sender(rest *REST, src *Sources, pop *Population) func(context.Context, Ballot) (int64, error) {
	if c.peer() {
		return NewPublisher(c.PeerURL, c.PeerKey, NewHTTPClient(src, c.Voters), pop).Publish
	}
	return func(ctx context.Context, b Ballot) (int64, error) {
		return rest.Vote(ctx, b.Token, b.PollID, b.OptionID)
	}
}

// wsClient is the handshake client of the watchers: no timeout (contexts bound each dial), no
// idle pool (upgraded connections leave the transport).
func newFleet(c Config, tr *Tracker, src *Sources) *Fleet {
	ws := NewSources(2, c.Sources)
	ws.RcvBuf = c.RcvBuf
	hc := NewHTTPClient(ws, 1)
	hc.Timeout = 0
	f := NewFleet(tr, hc, c.DialConcurrency)
	f.Centrifuge = c.peer()
	return f
}

func (c Config) watchURL(i int) string {
	return WSURL(c.WatchURLs[i%len(c.WatchURLs)], c.WSPath)
}

// connect starts the fleet and reports how fast it subscribed.
func connect(ctx context.Context, f *Fleet, ws []*Watcher, rep *reporter, pids map[string]int) error {
	cpu0 := sampleProcs(pids)
	start := time.Now()
	f.Start(ctx, ws)
	n := f.WaitSubscribed(int64(len(ws)), 5*time.Minute)
	el := time.Since(start)
	rep.kv("connections", fmt.Sprintf("%d of %d subscribed in %.2f s (%.0f conn/s incl. subscribe)", n, len(ws), el.Seconds(), float64(n)/el.Seconds()))
	cpu1 := sampleProcs(pids)
	var parts []string
	for _, name := range sortedKeys(cpu1) {
		parts = append(parts, fmt.Sprintf("%s %.2f", name, Cores(cpu0[name], cpu1[name])))
	}
	rep.kv("CPU while connecting", strings.Join(parts, ", ")+" cores")
	parts = parts[:0]
	for _, name := range sortedKeys(cpu1) {
		if cpu1[name].Valid && cpu0[name].Valid && n > 0 {
			parts = append(parts, fmt.Sprintf("%s %.3f", name, float64((cpu1[name].CPU-cpu0[name].CPU).Microseconds())/1000/float64(n)))
		}
	}
	rep.kv("CPU per connection set up", strings.Join(parts, ", ")+" ms")
	if n < int64(len(ws)) {
		rep.errors(f)
		return fmt.Errorf("only %d of %d watchers subscribed", n, len(ws))
	}
	return nil
}

func runCircles(ctx context.Context, c Config, rest *REST, src *Sources, prefix string, rep *reporter) error {
	ballotsPerPoll := c.Members
	polls := c.PollsPerCircle
	if c.Scenario == "storm" {
		polls = 1
	} else if polls <= 0 {
		polls = int(math.Ceil(c.Rate * c.Duration.Seconds() / float64(c.Circles*ballotsPerPoll)))
	}
	if polls > 100 {
		return fmt.Errorf("%d polls per circle would pass the 100 channels of a connection: lower the rate or duration, or add circles", polls)
	}
	t0 := time.Now()
	var pop *Population
	var reused string
	var err error
	if c.peer() {
		pop, err = PeerPopulation(c.PeerKey, c.Circles, c.Members, polls)
		reused = "made for the peer"
	} else {
		pop, reused, err = setupClassroom(ctx, c, rest, polls, prefix)
	}
	if err != nil {
		return err
	}
	rep.kv("setup", fmt.Sprintf("%d circles × %d members (%s), %d polls each, in %.1f s", c.Circles, c.Members, reused, polls, time.Since(t0).Seconds()))
	tr := NewTracker(pop.PollIDs, ballotsPerPoll)
	var ws []*Watcher
	for ci := range pop.Circles {
		var mine []int
		for k := range polls {
			mine = append(mine, pop.PollBase[ci]+k)
		}
		for _, m := range pop.Members[ci] {
			ws = append(ws, &Watcher{URL: c.watchURL(len(ws)), Token: m.Token, Polls: mine})
		}
	}
	f := newFleet(c, tr, src)
	f.Reconnect = c.Scenario == "storm"
	procs := sampleProcs(c.Pids)
	if err := connect(ctx, f, ws, rep, c.Pids); err != nil {
		f.Stop()
		return err
	}
	if c.Scenario == "storm" {
		time.Sleep(2 * time.Second)
		rep.memory(procs, sampleProcs(c.Pids), len(ws))
		err := storm(c, f, rep)
		f.Stop()
		rep.errors(f)
		return err
	}
	return voteAndCheck(ctx, c, c.sender(rest, src, pop), tr, f, ClassroomBallots(pop), procs, len(ws), rep)
}

// setupClassroom sets up circles and polls, reusing and saving the users and circles in
// c.Population when it is set.
func setupClassroom(ctx context.Context, c Config, rest *REST, polls int, prefix string) (*Population, string, error) {
	o := SetupOptions{Circles: c.Circles, Members: c.Members, PollsPerCircle: polls, Concurrency: c.SetupConcurrency, Prefix: prefix}
	if c.Population != "" {
		old, err := LoadPopulation(c.Population)
		if err != nil {
			return nil, "", err
		}
		o.Reuse = old
	}
	pop, err := Setup(ctx, rest, o)
	if err != nil {
		return nil, "", err
	}
	if o.Reuse != nil {
		return pop, "users and circles reused from " + c.Population, nil
	}
	if c.Population != "" {
		if err := SavePopulation(c.Population, pop); err != nil {
			return nil, "", err
		}
		return pop, "new, saved to " + c.Population, nil
	}
	return pop, "new", nil
}

func runHot(ctx context.Context, c Config, rest *REST, src *Sources, prefix string, rep *reporter) error {
	ballotsPerPoll := c.Members
	polls := c.PollsPerCircle
	if polls <= 0 {
		polls = int(math.Ceil(c.Rate * c.Duration.Seconds() / float64(ballotsPerPoll)))
	}
	if polls > 100 {
		return fmt.Errorf("%d polls would pass the 100 channels of a connection: lower -rate × -duration to at most %d votes", polls, 100*ballotsPerPoll)
	}
	t0 := time.Now()
	var pop *Population
	var err error
	if c.peer() {
		pop, err = PeerPopulation(c.PeerKey, 1, c.Members, polls)
	} else {
		pop, err = Setup(ctx, rest, SetupOptions{Circles: 1, Members: c.Members, PollsPerCircle: polls, Concurrency: 1, Prefix: prefix})
	}
	if err != nil {
		return err
	}
	rep.kv("setup", fmt.Sprintf("1 circle × %d members, %d polls voted one after another, in %.1f s", c.Members, polls, time.Since(t0).Seconds()))
	tr := NewTracker(pop.PollIDs, ballotsPerPoll)
	all := make([]int, polls)
	for k := range all {
		all[k] = k
	}
	ws := make([]*Watcher, c.Watchers)
	for i := range ws {
		m := pop.Members[0][i%c.Members]
		ws[i] = &Watcher{URL: c.watchURL(i / c.Members), Token: m.Token, Polls: all}
	}
	f := newFleet(c, tr, src)
	procs := sampleProcs(c.Pids)
	if err := connect(ctx, f, ws, rep, c.Pids); err != nil {
		f.Stop()
		return err
	}
	return voteAndCheck(ctx, c, c.sender(rest, src, pop), tr, f, HotBallots(pop), procs, len(ws), rep)
}

// voteAndCheck casts the ballots (on the peer: publishes their tallies), waits for the watchers
// to settle, and reports latency, stale watchers, conflation, bytes per frame and each
// process's CPU over the voting window.
func voteAndCheck(ctx context.Context, c Config, send func(context.Context, Ballot) (int64, error), tr *Tracker, f *Fleet, ballots []Ballot, before map[string]ProcSample, n int, rep *reporter) error {
	time.Sleep(2 * time.Second)
	rep.memory(before, sampleProcs(c.Pids), n)
	framesBefore, bytesBefore := tr.Frames.Load(), tr.Bytes.Load()
	cpu0 := sampleProcs(c.Pids)
	load0 := LoadAvg()
	st := Deliver(ctx, tr, ballots, c.Rate, c.Voters, send)
	cpu1 := sampleProcs(c.Pids)
	time.Sleep(time.Second)
	// CPU per frame: from the first ballot to 1 s after the last, when the fan-out is over.
	cpuF, framesF := sampleProcs(c.Pids), tr.Frames.Load()-framesBefore
	stale1 := f.Staleness(false)
	time.Sleep(max(c.Settle-time.Second, 0))
	stale := f.Staleness(true)
	frames := tr.Frames.Load() - framesBefore
	bytes := tr.Bytes.Load() - bytesBefore
	orphans := f.Stop()

	rep.kv("load average (before, after)", load0+" / "+LoadAvg())
	rep.kv(rep.word("votes", "publishes"), fmt.Sprintf("%d accepted, %d failed %v, in %.1f s = %.0f/s (asked %.0f; last ballot left %.0f ms behind schedule)",
		st.OK, st.Failed, st.Errors, st.Elapsed.Seconds(), float64(st.OK)/st.Elapsed.Seconds(), c.Rate, float64(st.Behind.Microseconds())/1000))
	rep.kv(rep.word("vote HTTP round trip", "publish HTTP round trip"), rep.hist(&tr.VoteRTT))
	rep.kv("tallies delivered", fmt.Sprintf("%d frames = %.0f/s", frames, float64(frames)/st.Elapsed.Seconds()))
	if frames > 0 {
		rep.kv("bytes per delivered frame", fmt.Sprintf("%.0f (WebSocket payload)", float64(bytes)/float64(frames)))
	}
	rep.perFrame(cpu0, cpuF, framesF)
	var expected int64
	watchersOf := map[int]int64{}
	for _, w := range f.Watchers {
		for _, p := range w.Polls {
			watchersOf[p]++
		}
	}
	for p, k := range watchersOf {
		expected += tr.Votes(p) * k
	}
	if expected > 0 {
		rep.kv("conflation", fmt.Sprintf("frames received %d vs votes × watchers %d (%.1f%%)", frames, expected, 100*float64(frames)/float64(expected)))
	}
	rep.kv(rep.word("vote→tally latency", "publish→deliver latency"), rep.hist(&tr.Latency))
	rep.kv(rep.word("last vote→final tally", "last publish→final tally"), rep.hist(&tr.Convergence))
	rep.kv("stale watchers", fmt.Sprintf("%d at 1 s after the last vote, %d at %.0f s (must be 0)", stale1, stale, max(c.Settle, time.Second).Seconds()))
	if orphans > 0 {
		rep.kv("versions without a vote answer", fmt.Sprint(orphans))
	}
	rep.cpu(cpu0, cpu1)
	rep.errors(f)
	return nil
}

func runIdle(ctx context.Context, c Config, rest *REST, src *Sources, prefix string, rep *reporter) error {
	per := max(c.ConnsPerUser, 1)
	var users []User
	var err error
	if c.peer() {
		users, err = PeerUsers(c.PeerKey, (c.Conns+per-1)/per)
	} else {
		users, err = Logins(ctx, rest, (c.Conns+per-1)/per, c.SetupConcurrency, prefix)
	}
	if err != nil {
		return err
	}
	tr := NewTracker(nil, 0)
	ws := make([]*Watcher, c.Conns)
	for i := range ws {
		u := users[i/per]
		ws[i] = &Watcher{URL: c.watchURL(i), Token: u.Token}
		if c.SubscribeUser {
			ws[i].Other = []string{"user:" + u.ID}
		}
	}
	f := newFleet(c, tr, src)
	before := sampleProcs(c.Pids)
	if err := connect(ctx, f, ws, rep, c.Pids); err != nil {
		f.Stop()
		return err
	}
	time.Sleep(3 * time.Second)
	rep.memory(before, sampleProcs(c.Pids), len(ws))
	cpu0 := sampleProcs(c.Pids)
	select {
	case <-time.After(c.Duration):
	case <-ctx.Done():
	}
	cpu1 := sampleProcs(c.Pids)
	rep.kv("held", fmt.Sprintf("%.0f s, %d still connected", c.Duration.Seconds(), f.Subscribed.Load()))
	rep.memory(before, cpu1, len(ws))
	rep.cpu(cpu0, cpu1)
	f.Stop()
	rep.errors(f)
	return nil
}

// storm cuts every connection (or waits for the server to) and times the redial until every
// watcher is subscribed again.
func storm(c Config, f *Fleet, rep *reporter) error {
	n := len(f.Watchers)
	var t0 int64
	if c.StormMode == "server" {
		rep.kv("storm", "waiting for the server to drop the connections (restart it now)")
		base := f.Disconnects.Load()
		for f.Disconnects.Load() == base {
			time.Sleep(time.Millisecond)
		}
		t0 = f.Tracker.Now()
	} else {
		t0 = f.Tracker.Now()
		f.DropAll()
	}
	deadline := time.Now().Add(c.StormTimeout)
	got := 0
	for time.Now().Before(deadline) {
		if got = f.SubscribedSince(t0); got == n {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	el := time.Duration(f.Tracker.Now() - t0)
	rep.kv("storm", fmt.Sprintf("%d of %d subscribed again %.2f s after the drop (%s mode; %d disconnects seen)", got, n, el.Seconds(), c.StormMode, f.Disconnects.Load()))
	if got < n {
		return fmt.Errorf("storm: only %d of %d resubscribed within %v", got, n, c.StormTimeout)
	}
	return nil
}

func sampleProcs(pids map[string]int) map[string]ProcSample {
	out := map[string]ProcSample{}
	for name, pid := range pids {
		s, _ := ReadProc(pid)
		out[name] = s
	}
	return out
}

// reporter prints one figure per line.
type reporter struct {
	w    io.Writer
	peer bool // the figures are the peer's: publishes, not votes
}

// word names a figure for the protocol: Circly's votes are the peer's publishes.
func (r *reporter) word(circly, peer string) string {
	if r.peer {
		return peer
	}
	return circly
}

// perFrame prints each process's CPU time per delivered frame (server and generator alike).
func (r *reporter) perFrame(before, after map[string]ProcSample, frames int64) {
	if frames <= 0 {
		return
	}
	var parts []string
	for _, name := range sortedKeys(after) {
		if before[name].Valid && after[name].Valid {
			parts = append(parts, fmt.Sprintf("%s %.2f", name, float64((after[name].CPU-before[name].CPU).Nanoseconds())/1000/float64(frames)))
		}
	}
	r.kv("CPU per delivered frame", strings.Join(parts, ", ")+fmt.Sprintf(" µs (over %d frames)", frames))
}

func (r *reporter) kv(k, v string) { fmt.Fprintf(r.w, "%-30s %s\n", k+":", v) }

func (r *reporter) hist(h *Histogram) string {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }
	return fmt.Sprintf("n=%d p50=%s p90=%s p99=%s max=%s ms", h.Count(), ms(h.Quantile(0.5)), ms(h.Quantile(0.9)), ms(h.Quantile(0.99)), ms(h.Max()))
}

func (r *reporter) memory(before, after map[string]ProcSample, n int) {
	for _, name := range sortedKeys(after) {
		b, a := before[name], after[name]
		if !a.Valid || !b.Valid {
			continue
		}
		r.kv("server "+name+" RSS", fmt.Sprintf("%.1f MB → %.1f MB: %.1f KB per connection over %d", float64(b.RSS)/1e6, float64(a.RSS)/1e6, float64(a.RSS-b.RSS)/1024/float64(max(n, 1)), n))
	}
}

func (r *reporter) cpu(before, after map[string]ProcSample) {
	for _, name := range sortedKeys(after) {
		if c := Cores(before[name], after[name]); after[name].Valid {
			r.kv("server "+name+" CPU", fmt.Sprintf("%.2f cores over %.1f s", c, after[name].At.Sub(before[name].At).Seconds()))
		}
	}
}

func (r *reporter) errors(f *Fleet) {
	if n := f.Retries.Load(); n > 0 {
		r.kv("subscribe retries", fmt.Sprintf("%d (after INTERNAL_ERROR and the like)", n))
	}
	d, e, cl := f.Counts()
	for _, x := range []struct {
		k string
		m map[string]int
	}{{"dial errors", d}, {"error frames", e}, {"connection ends", cl}} {
		if len(x.m) > 0 {
			var parts []string
			for _, k := range sortedKeys(x.m) {
				parts = append(parts, fmt.Sprintf("%s ×%d", k, x.m[k]))
			}
			r.kv(x.k, strings.Join(parts, ", "))
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
