package loadtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"
)

// runResults is the results-read scenario: a classroom whose polls are voted full once, then
// members read their polls' results (GET /v1/polls/{id}/results) at c.Rate for c.Duration
// through every replica in turn, as a results screen after a class's polls close would. What a
// read costs the replicas (CPU per read, from -pids) is the figure to compare with
// RESULTS_CACHE on and off.
func runResults(ctx context.Context, c Config, rest *REST, src *Sources, prefix string, rep *reporter) error {
	t0 := time.Now()
	pop, reused, err := setupClassroom(ctx, c, rest, 1, prefix)
	if err != nil {
		return err
	}
	rep.kv("setup", fmt.Sprintf("%d circles × %d members (%s), 1 poll each, in %.1f s", c.Circles, c.Members, reused, time.Since(t0).Seconds()))
	tr := NewTracker(pop.PollIDs, c.Members)
	vs := CastVotes(ctx, rest, tr, ClassroomBallots(pop), 2000, c.Voters)
	rep.kv("ballots", fmt.Sprintf("%d cast, %d failed %v", vs.OK, vs.Failed, vs.Errors))
	if vs.Failed > 0 {
		return fmt.Errorf("%d ballots failed", vs.Failed)
	}
	readers := make([]*REST, len(c.WatchURLs))
	for i, u := range c.WatchURLs {
		readers[i] = &REST{Base: u, Client: NewHTTPClient(src, c.Voters)}
	}
	before := sampleProcs(c.Pids)
	st := readResults(ctx, readers, pop, c.Rate, c.Duration, c.Voters)
	after := sampleProcs(c.Pids)
	rep.kv("reads", fmt.Sprintf("%d ok, %d failed %v, in %.1f s = %.0f reads/s (asked %.0f)", st.ok, st.failed,
		st.errors, st.elapsed.Seconds(), float64(st.ok)/st.elapsed.Seconds(), c.Rate))
	rep.kv("read HTTP round trip", rep.hist(st.rtt))
	rep.cpu(before, after)
	for _, name := range sortedKeys(after) {
		if st.ok > 0 {
			ms := Cores(before[name], after[name]) * st.elapsed.Seconds() * 1000 / float64(st.ok)
			rep.kv("CPU per read "+name, fmt.Sprintf("%.3f ms", ms))
		}
	}
	if st.failed > 0 {
		return fmt.Errorf("%d reads failed", st.failed)
	}
	return nil
}

type readStats struct {
	paceStats
	rtt *Histogram
}

// readResults sends results reads at rate (open loop) for d, each by a random member of a
// random circle for its circle's poll, through the replicas in turn.
func readResults(ctx context.Context, replicas []*REST, pop *Population, rate float64, d time.Duration, workers int) readStats {
	st := readStats{rtt: &Histogram{}}
	st.paceStats = paced(ctx, int(rate*d.Seconds()), rate, workers, func(n int) error {
		c := rand.IntN(len(pop.Circles))
		m := pop.Members[c][rand.IntN(len(pop.Members[c]))]
		t0 := time.Now()
		err := replicas[n%len(replicas)].do(ctx, http.MethodGet, "/v1/polls/"+pop.Polls[c][0].ID+"/results", m.Token, nil, nil, http.StatusOK)
		if err == nil {
			st.rtt.Record(time.Since(t0))
		}
		return err
	})
	return st
}
