package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"circly/internal/testproc"
)

// These tests run the generator's Centrifuge client against the real peer (bench/peer), built
// here with go build from its own module: a broken peer build fails them.

const peerSecret = "loadtest-peer-secret-0123456789abcdef"

var (
	peerOnce sync.Once
	peerBin  string
	peerErr  error
	peerDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if peerDir != "" {
		_ = os.RemoveAll(peerDir)
	}
	os.Exit(code)
}

func buildPeer(t *testing.T) string {
	t.Helper()
	peerOnce.Do(func() {
		if peerDir, peerErr = os.MkdirTemp("", "circly-peer-"); peerErr != nil {
			return
		}
		peerBin = filepath.Join(peerDir, "peer")
		cmd := exec.Command("go", "build", "-o", peerBin, ".")
		cmd.Dir = filepath.Join("..", "bench", "peer")
		if out, err := cmd.CombinedOutput(); err != nil {
			peerErr = fmt.Errorf("go build in bench/peer: %v\n%s", err, out)
		}
	})
	if peerErr != nil {
		t.Fatal(peerErr)
	}
	return peerBin
}

// startPeer runs the peer on a free port and returns its base URL and pid.
func startPeer(t *testing.T, args ...string) (string, int) {
	t.Helper()
	bin := buildPeer(t)
	var base string
	var proc *testproc.Process
	var out testproc.Output
	err := testproc.OnFreePort(t, func(port int) error {
		base = "http://127.0.0.1:" + strconv.Itoa(port)
		cmd := exec.Command(bin, append([]string{"-addr", "127.0.0.1:" + strconv.Itoa(port)}, args...)...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "PEER_SECRET=" + peerSecret}
		cmd.Stdout, cmd.Stderr = &out, &out
		var err error
		proc, err = testproc.Start(cmd, "peer", 20*time.Second, 50*time.Millisecond, healthy(base))
		return err
	})
	if err != nil {
		t.Fatalf("start the peer: %v\n%s", err, out.String())
	}
	t.Cleanup(func() {
		_ = proc.P.Kill()
		<-proc.Exited
		if t.Failed() {
			t.Logf("peer output:\n%s", out.String())
		}
	})
	return base, proc.P.Pid
}

func peerFleet(tr *Tracker) *Fleet {
	hc := NewHTTPClient(NewSources(2, 2), 1)
	hc.Timeout = 0
	f := NewFleet(tr, hc, 8)
	f.Centrifuge = true
	return f
}

// TestPeerFleetSubscribesReceivesAndRecovers: watchers connect with a token, subscribe to poll
// channels and their own user channel, receive published tallies (latency and bytes recorded,
// nobody stale), and after a storm resubscribe with the last tally as their starting point.
func TestPeerFleetSubscribesReceivesAndRecovers(t *testing.T) {
	base, _ := startPeer(t)
	pop, err := PeerPopulation(peerSecret, 1, 4, 2)
	if err != nil {
		t.Fatal(err)
	}
	tr := NewTracker(pop.PollIDs, 4)
	f := peerFleet(tr)
	f.Reconnect = true
	var ws []*Watcher
	for i := range 8 {
		m := pop.Members[0][i%4]
		ws = append(ws, &Watcher{URL: WSURL(base, "/connection/websocket"), Token: m.Token, Polls: []int{0, 1}, Other: []string{"user:" + m.ID}})
	}
	ctx := context.Background()
	f.Start(ctx, ws)
	if got := f.WaitSubscribed(int64(len(ws)), 10*time.Second); got != int64(len(ws)) {
		t.Fatalf("%d of %d subscribed", got, len(ws))
	}
	if got := tr.Snapshots.Load(); got != 3*int64(len(ws)) {
		t.Fatalf("%d subscribe replies, want %d", got, 3*len(ws))
	}
	pub := NewPublisher(base, peerSecret, NewHTTPClient(NewSources(2, 1), 2), pop)
	st := Deliver(ctx, tr, HotBallots(pop)[:6], 100, 2, pub.Publish) // poll 0 to version 3, poll 1 to 3
	if st.OK != 6 || st.Failed != 0 {
		t.Fatalf("publishes: %+v", st)
	}
	waitFor(t, func() bool { return f.Staleness(false) == 0 }, "every watcher on the last tallies")
	if got := tr.Frames.Load(); got != 6*int64(len(ws)) {
		t.Fatalf("%d tally frames, want %d", got, 6*len(ws))
	}
	// A publication push of a 3-option tally: {"push":{"channel":"poll:…","pub":{"data":{…}}}}.
	want := len(`{"push":{"channel":"poll:","pub":{"data":}}}`) + 36 + len(TallyJSON(nil, pop.Polls[0][0], 1))
	if per := tr.Bytes.Load() / tr.Frames.Load(); per < int64(want) || per > int64(want)+40 {
		t.Fatalf("%d bytes per frame, want about %d", per, want)
	}

	// Storm: every connection cut; the watchers redial, reconnect, resubscribe, and the
	// subscribe reply carries a tally published while they were away.
	t0 := tr.Now()
	f.DropAll()
	st = Deliver(ctx, tr, HotBallots(pop)[6:7], 100, 1, pub.Publish) // poll 1 to version 4
	if st.OK != 1 {
		t.Fatalf("publish: %+v", st)
	}
	waitFor(t, func() bool { return f.SubscribedSince(t0) == len(ws) }, "resubscribed after the storm")
	waitFor(t, func() bool { return f.Staleness(false) == 0 }, "every watcher on version 4 of poll 1")
	if stale := f.Staleness(true); stale != 0 {
		t.Fatalf("%d stale", stale)
	}
	if orphans := f.Stop(); orphans != 0 {
		t.Fatalf("%d orphan versions", orphans)
	}
	if got := tr.Latency.Count(); got != 7*int64(len(ws)) {
		t.Fatalf("%d latencies, want %d", got, 7*len(ws))
	}
	if d, e, _ := f.Counts(); len(d)+len(e) != 0 {
		t.Fatalf("dial errors %v, error frames %v", d, e)
	}
}

// TestPeerFleetAnswersPings: with the peer pinging every second, connections that answer {}
// stay up well past the pong timeout.
func TestPeerFleetAnswersPings(t *testing.T) {
	base, _ := startPeer(t, "-ping", "1s")
	users, err := PeerUsers(peerSecret, 2)
	if err != nil {
		t.Fatal(err)
	}
	tr := NewTracker(nil, 0)
	f := peerFleet(tr)
	f.Start(context.Background(), []*Watcher{{URL: WSURL(base, "/connection/websocket"), Token: users[0].Token},
		{URL: WSURL(base, "/connection/websocket"), Token: users[1].Token, Other: []string{"user:" + users[1].ID}}})
	if got := f.WaitSubscribed(2, 10*time.Second); got != 2 {
		t.Fatalf("%d of 2 connected", got)
	}
	time.Sleep(3500 * time.Millisecond) // three pings, each with 320 ms to answer
	if got := f.Subscribed.Load(); got != 2 || f.Failed.Load() != 0 {
		_, _, cl := f.Counts()
		t.Fatalf("%d still connected, %d failed, ends %v", got, f.Failed.Load(), cl)
	}
	f.Stop()
}

// TestPeerRefusals: a bad token is refused at connect, another user's channel at subscribe,
// and the publish endpoint wants its key and a channel of Circly's shape.
func TestPeerRefusals(t *testing.T) {
	base, _ := startPeer(t)
	users, err := PeerUsers(peerSecret, 2)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := PeerToken("another-secret-0123456789abcdef", users[0].ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tr := NewTracker(nil, 0)
	f := peerFleet(tr)
	url := WSURL(base, "/connection/websocket")
	f.Start(context.Background(), []*Watcher{{URL: url, Token: forged}, {URL: url, Token: users[0].Token, Other: []string{"user:" + users[1].ID}}})
	waitFor(t, func() bool { return f.Failed.Load() == 2 }, "both watchers refused")
	f.Stop()
	_, frames, closes := f.Counts()
	if frames["centrifuge 103"] != 1 { // permission denied
		t.Fatalf("error frames %v, want one centrifuge 103", frames)
	}
	if f.Subscribed.Load() != 0 || len(closes) == 0 {
		t.Fatalf("subscribed %d, ends %v", f.Subscribed.Load(), closes)
	}

	post := func(key, body string) int {
		req, _ := http.NewRequest(http.MethodPost, base+"/publish", strings.NewReader(body))
		req.Header.Set("Authorization", "apikey "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var env struct {
			Error struct{ Code string } `json:"error"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&env)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK && env.Error.Code == "" {
			t.Fatalf("HTTP %d without an error envelope", resp.StatusCode)
		}
		return resp.StatusCode
	}
	ch := "poll:" + users[0].ID
	for _, c := range []struct {
		key, body string
		want      int
	}{
		{"wrong", `{"channel":"` + ch + `","data":{}}`, http.StatusUnauthorized},
		{peerSecret, `{"channel":"poll:x","data":{}}`, http.StatusBadRequest},
		{peerSecret, `{"channel":"` + ch + `"}`, http.StatusBadRequest},
		{peerSecret, `{"channel":"` + ch + `","data":"` + string(bytes.Repeat([]byte("x"), 70<<10)) + `"}`, http.StatusRequestEntityTooLarge},
		{peerSecret, `{"channel":"` + ch + `","data":{"version":1}}`, http.StatusOK},
	} {
		if got := post(c.key, c.body); got != c.want {
			t.Errorf("publish %.60s: HTTP %d, want %d", c.body, got, c.want)
		}
	}
}

// TestPeerScenarios runs the hot, idle, classroom and storm scenarios at a tiny scale against
// the peer and checks the figures are printed.
func TestPeerScenarios(t *testing.T) {
	base, pid := startPeer(t)
	for _, c := range []struct {
		scenario string
		want     []string
	}{
		{"hot", []string{"publish→deliver latency:", "bytes per delivered frame:", "CPU per delivered frame:", "stale watchers:                0 at 1 s", "CPU per connection set up:"}},
		{"idle", []string{"server peer RSS:", "held:"}},
		{"classroom", []string{"publishes:", "stale watchers:                0 at 1 s"}},
		{"storm", []string{"storm:"}},
	} {
		t.Run(c.scenario, func(t *testing.T) {
			var out bytes.Buffer
			cfg := Config{Scenario: c.scenario, Protocol: ProtoCentrifuge, PeerURL: base, PeerKey: peerSecret,
				Circles: 3, Members: 4, Watchers: 20, Conns: 20, ConnsPerUser: 5, Rate: 40, Duration: time.Second,
				Voters: 4, Settle: time.Second, DialConcurrency: 8, SetupConcurrency: 2, Sources: 2,
				StormMode: "drop", StormTimeout: 20 * time.Second, Pids: map[string]int{"peer": pid, "loadgen": os.Getpid()}, Out: &out}
			if err := Run(context.Background(), cfg); err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			for _, w := range c.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			if strings.Contains(out.String(), "error frames") || strings.Contains(out.String(), "dial errors") {
				t.Errorf("errors in the run:\n%s", out.String())
			}
		})
	}
}

// TestCirclyAndPeerReportTheSameFigures runs the hot scenario at a tiny scale on the real
// circly binary (embedded: SQLite, the in-memory broker, the load-test settings) and on the
// peer, and checks both print the same figures (named for votes on one, publishes on the other),
// the figures scripts/peer-bench.sh puts side by side.
func TestCirclyAndPeerReportTheSameFigures(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "circly")
	build := exec.Command("go", "build", "-o", bin, "./cmd/circly")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/circly: %v\n%s", err, out)
	}
	var circly string
	var proc *testproc.Process
	var logs testproc.Output
	err := testproc.OnFreePort(t, func(port int) error {
		circly = "http://127.0.0.1:" + strconv.Itoa(port)
		cmd := exec.Command(bin)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "PORT=" + strconv.Itoa(port), "DATA_DIR=" + dir,
			"SECRET_KEY=" + peerSecret, "LOG_LEVEL=warn", "WS_MAX_CONNS_PER_USER=100"}
		for k, v := range loadTestSettings {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		cmd.Stdout, cmd.Stderr = &logs, &logs
		var err error
		proc, err = testproc.Start(cmd, "circly", 60*time.Second, 100*time.Millisecond, healthy(circly))
		return err
	})
	if err != nil {
		t.Fatalf("start circly: %v\n%s", err, logs.String())
	}
	t.Cleanup(func() { _ = proc.P.Kill(); <-proc.Exited })
	peer, peerPid := startPeer(t)

	run := func(protocol string, pids map[string]int) string {
		var out bytes.Buffer
		cfg := Config{Scenario: "hot", Protocol: protocol, VoteURL: circly, WatchURLs: []string{circly}, WSPath: "/v1/ws",
			PeerURL: peer, PeerKey: peerSecret, Members: 5, Watchers: 30, Rate: 40, Duration: time.Second, Voters: 4,
			Settle: time.Second, DialConcurrency: 8, SetupConcurrency: 2, Sources: 2, Pids: pids, Out: &out}
		if err := Run(context.Background(), cfg); err != nil {
			t.Fatalf("%s: %v\n%s\ncircly log:\n%s", protocol, err, out.String(), logs.String())
		}
		return out.String()
	}
	figures := func(out string) (labels []string) {
		for line := range strings.SplitSeq(out, "\n") {
			label, _, ok := strings.Cut(line, ":")
			if !ok || strings.HasPrefix(label, "server ") { // RSS and CPU lines name the process
				continue
			}
			for _, w := range [][2]string{{"publishes", "votes"}, {"publish→deliver latency", "vote→tally latency"},
				{"publish HTTP round trip", "vote HTTP round trip"}, {"last publish→final tally", "last vote→final tally"}} {
				label = strings.Replace(label, w[0], w[1], 1)
			}
			labels = append(labels, label)
		}
		return labels
	}
	outC := run(ProtoCircly, map[string]int{"circly": proc.P.Pid, "loadgen": os.Getpid()})
	outP := run(ProtoCentrifuge, map[string]int{"peer": peerPid, "loadgen": os.Getpid()})
	if a, b := strings.Join(figures(outC), "|"), strings.Join(figures(outP), "|"); a != b {
		t.Fatalf("the two runs print different figures:\ncircly:\n%s\npeer:\n%s", outC, outP)
	}
	for _, c := range []struct{ out, server string }{{outC, "circly"}, {outP, "peer"}} {
		for _, want := range []string{"bytes per delivered frame:", "CPU per connection set up:",
			"stale watchers:                0 at 1 s", "server " + c.server + " RSS:"} {
			if !strings.Contains(c.out, want) {
				t.Errorf("%s run lacks %q:\n%s", c.server, want, c.out)
			}
		}
		// CPU per frame of the server and of the generator, on one line.
		if !regexp.MustCompile(`(?m)^CPU per delivered frame: .*\b`+c.server+` [0-9.]+\b.*µs`).MatchString(c.out) ||
			!regexp.MustCompile(`(?m)^CPU per delivered frame: .*\bloadgen [0-9.]+`).MatchString(c.out) {
			t.Errorf("%s run: no CPU per delivered frame for the server and the generator:\n%s", c.server, c.out)
		}
	}
}

// healthy is a readiness check for testproc.Start: GET base/health answers 200.
func healthy(base string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/health", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("health: HTTP %d", resp.StatusCode)
		}
		return nil
	}
}
