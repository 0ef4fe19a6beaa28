package loadtest

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"circly"
	"circly/app"
	"circly/auth"
	"circly/config"
	"circly/internal/testdb"
	"circly/internal/testkit"
	"circly/server"
	"circly/sqlstore"
)

// loadTestSettings are the settings loadtest/README.md tells an operator to start the server with.
var loadTestSettings = map[string]string{"TALLY_RELEASE_BATCH": "1", "POLL_OPEN_LIMIT": "0",
	"POLL_DAILY_LIMIT": "0", "RATE_LIMIT_REQUESTS": "0", "AUTH_RATE_LIMIT": "0"}

// newServer starts the real REST server in embedded mode (SQLite) with the load-test settings.
func newServer(t *testing.T) *REST { return newServerWith(t, loadTestSettings) }

// newServerWith starts the real REST server in embedded mode with the given settings (the
// defaults for the rest).
func newServerWith(t *testing.T, settings map[string]string) *REST {
	t.Helper()
	db := testdb.Open(t, sqlstore.SQLite)
	env := map[string]string{"DATA_DIR": t.TempDir()}
	for k, v := range settings {
		env[k] = v
	}
	cfg, err := config.FromLookup(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	policy := circly.DefaultPolicy()
	policy.TallyReleaseBatch, policy.PollOpenLimit, policy.PollDailyLimit = cfg.TallyReleaseBatch, cfg.PollOpenLimit, cfg.PollDailyLimit
	srv := server.New(server.Deps{Config: cfg, App: app.New(sqlstore.NewStore(db, policy, testkit.Ballots()), nil, nil), Tokens: auth.NewTokens(cfg.SecretKey, time.Hour), DB: db, Version: "loadtest"})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &REST{Base: ts.URL, Client: NewHTTPClient(NewSources(1, 1), 8)}
}

func TestSetupAndVotesAgainstRealServer(t *testing.T) {
	r := newServer(t)
	ctx := context.Background()
	const circles, members, polls = 3, 4, 2
	pop, err := Setup(ctx, r, SetupOptions{Circles: circles, Members: members, PollsPerCircle: polls, Concurrency: 2, Prefix: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pop.PollIDs) != circles*polls {
		t.Fatalf("%d polls", len(pop.PollIDs))
	}
	for c := range circles {
		if pop.PollBase[c] != c*polls || pop.PollIDs[pop.PollBase[c]] != pop.Polls[c][0].ID {
			t.Fatalf("circle %d polls not consecutive from %d", c, pop.PollBase[c])
		}
		for _, p := range pop.Polls[c] {
			if len(p.Options) != members-1 {
				t.Fatalf("poll with %d options, want %d", len(p.Options), members-1)
			}
		}
		for j, m := range pop.Members[c] {
			if m.Token == "" || (j > 0 && m.MemberID == "") {
				t.Fatalf("circle %d member %d incomplete: %+v", c, j, m)
			}
		}
	}
	ballots := ClassroomBallots(pop)
	if len(ballots) != circles*members*polls {
		t.Fatalf("%d ballots", len(ballots))
	}
	// Consecutive ballots go to different circles.
	if pop.Polls[0][0].ID == ballots[1].PollID {
		t.Fatal("classroom ballots are not spread over circles")
	}
	tr := NewTracker(pop.PollIDs, members)
	st := CastVotes(ctx, r, tr, ballots, 500, 4)
	if st.Failed != 0 || st.OK != int64(len(ballots)) {
		t.Fatalf("votes: %+v", st)
	}
	// Every member voted once on every poll (the server would refuse a self vote or a second
	// ballot), so each poll's versions run 1…members, each reported by exactly one vote.
	for p := range pop.PollIDs {
		if tr.Final(p) != members || tr.Votes(p) != members {
			t.Fatalf("poll %d: final version %d, votes %d", p, tr.Final(p), tr.Votes(p))
		}
		for v := int64(1); v <= members; v++ {
			if tr.sentAt(p, v) < 0 {
				t.Fatalf("poll %d version %d has no vote", p, v)
			}
		}
	}
	if tr.VoteRTT.Count() != int64(len(ballots)) {
		t.Fatalf("round trips recorded %d", tr.VoteRTT.Count())
	}
	// A second run reuses the users and circles and opens fresh polls in them.
	path := t.TempDir() + "/pop.json"
	if err := SavePopulation(path, pop); err != nil {
		t.Fatal(err)
	}
	old, err := LoadPopulation(path)
	if err != nil || old == nil {
		t.Fatalf("load: %v", err)
	}
	again, err := Setup(ctx, r, SetupOptions{Circles: circles, Members: members, PollsPerCircle: 1, Concurrency: 2, Reuse: old})
	if err != nil {
		t.Fatal(err)
	}
	if again.Circles[1].ID != pop.Circles[1].ID || again.Members[2][3].MemberID != pop.Members[2][3].MemberID || again.Polls[0][0].ID == pop.Polls[0][0].ID {
		t.Fatal("reuse did not keep the circles or did not open new polls")
	}
	if st := CastVotes(ctx, r, NewTracker(again.PollIDs, members), ClassroomBallots(again), 500, 4); st.Failed != 0 {
		t.Fatalf("votes on reused circles: %+v", st)
	}
	if _, err := Setup(ctx, r, SetupOptions{Circles: circles + 1, Members: members, PollsPerCircle: 1, Reuse: old}); err == nil {
		t.Fatal("a population of another shape was reused")
	}
	if p, err := LoadPopulation(t.TempDir() + "/missing.json"); p != nil || err != nil {
		t.Fatalf("missing file: %v %v", p, err)
	}

	// A hot run orders ballots poll by poll.
	hot := HotBallots(pop)
	for i := 1; i < members; i++ {
		if hot[i].PollID != hot[0].PollID {
			t.Fatal("hot ballots do not fill one poll before the next")
		}
	}
}

func TestSetupRejectsOversizedCircles(t *testing.T) {
	if _, err := maxMembersFor(51); err == nil {
		t.Fatal("51 members accepted")
	}
	if m, _ := maxMembersFor(10); m != 10 {
		t.Fatalf("10 members → max_members %d", m)
	}
	if m, _ := maxMembersFor(11); m != 25 {
		t.Fatalf("11 members → max_members %d", m)
	}
}

// TestSetupNamesTheSettingThatStopsIt: against a server started with the defaults (the README's
// `go run ./cmd/circly`), set-up fails with the name of the setting to change, one at a time.
func TestSetupNamesTheSettingThatStopsIt(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		relaxed []string // load-test settings the server was started with
		want    string
	}{
		{nil, "AUTH_RATE_LIMIT=0"},
		{[]string{"AUTH_RATE_LIMIT"}, "POLL_OPEN_LIMIT=0"},
		{[]string{"AUTH_RATE_LIMIT", "POLL_OPEN_LIMIT"}, "POLL_DAILY_LIMIT=0"},
	}
	for _, c := range cases {
		settings := map[string]string{}
		for _, k := range c.relaxed {
			settings[k] = loadTestSettings[k]
		}
		r := newServerWith(t, settings)
		_, err := Setup(ctx, r, SetupOptions{Circles: 3, Members: 25, PollsPerCircle: 6, Concurrency: 4, Prefix: "lim"})
		if err == nil || !strings.Contains(err.Error(), "start the server with "+c.want) {
			t.Errorf("server relaxing %v: set-up error %v, want one naming %s", c.relaxed, err, c.want)
		}
	}
}
