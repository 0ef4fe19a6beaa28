package app_test

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"circly"
	"circly/app"
	"circly/internal/testdb"
	"circly/internal/testkit"
	"circly/internal/testredis"
	"circly/metrics"
	"circly/resultscache"
	"circly/sqlstore"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
)

// cachedReplicas returns n app services over one store, each with its own Redis client but one
// shared key space, as n replicas would be.
func cachedReplicas(t *testing.T, st *sqlstore.Store, n int) []*app.Service {
	t.Helper()
	opts, err := redis.ParseURL(testdb.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	var prefix string
	var out []*app.Service
	for range n {
		rc := redis.NewClient(opts)
		t.Cleanup(func() { _ = rc.Close() })
		if prefix == "" {
			prefix = testdb.RedisKeyPrefix(t, rc, "results")
		}
		svc := app.New(st, nil, nil)
		svc.ResultsCache = resultscache.NewRedis(rc, prefix)
		out = append(out, svc)
	}
	return out
}

func cacheCount(result string) float64 {
	return testutil.ToFloat64(metrics.ResultsCache.WithLabelValues(result))
}

// TestResultsCacheNeverStale: each released version and the close are new answers, equal to
// the uncached read; the same version read again is a hit, on the other replica too; the access
// check still runs for every read.
func TestResultsCacheNeverStale(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		policy := circly.DefaultPolicy()
		policy.TallyReleaseBatch = 1
		st := sqlstore.NewStore(db, policy, testkit.Ballots())
		clock := testkit.NewClock(time.Date(2026, 3, 10, 3, 0, 0, 0, time.UTC))
		st.SetClock(clock.Now)
		reps := cachedReplicas(t, st, 2)
		a, b := reps[0], reps[1]
		plain := app.New(st, nil, nil) // no cache: the truth

		users, c := circleOfThree(t, st, "rcache-")
		p, err := a.CreatePoll(ctx, users[0].ID, circly.CreatePollRequest{CircleID: c.ID,
			TemplateID: "00000000-0000-4000-8000-000000000001", Deadline: clock.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		check := func(step string, viewer string) {
			t.Helper()
			want, err := plain.GetResults(ctx, viewer, p.ID) // closes a due poll first, like the cached read
			if err != nil {
				t.Fatal(err)
			}
			for i, svc := range reps {
				hits := cacheCount(metrics.CacheHit)
				got, err := svc.GetResults(ctx, viewer, p.ID)
				if err != nil {
					t.Fatalf("%s, replica %d: %v", step, i, err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("%s, replica %d: cached %+v, database %+v", step, i, got, want)
				}
				// The first replica ranked (or found) this version; the second must find it.
				if i == 1 && cacheCount(metrics.CacheHit) != hits+1 {
					t.Fatalf("%s: the second replica's read was no hit", step)
				}
			}
		}
		check("no votes", users[1].ID)
		for i, voter := range users {
			if _, err := a.Vote(ctx, voter.ID, circly.VoteRequest{PollID: p.ID, OptionID: p.Options[i%2].ID}); err != nil {
				t.Fatal(err)
			}
			check("after a vote", users[(i+1)%3].ID)
		}
		clock.Advance(time.Hour) // due: the read closes it
		check("after the deadline", users[2].ID)
		if r, _ := b.GetResults(ctx, users[0].ID, p.ID); !r.IsClosed || r.TotalVotes != 3 {
			t.Fatalf("final results %+v", r)
		}

		// A cached answer is no pass: strangers are still refused.
		stranger, err := st.DeviceLogin(ctx, "rcache-stranger", "ios", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.GetResults(ctx, stranger.ID, p.ID); !errors.Is(err, circly.ErrNotCircleMember) {
			t.Fatalf("stranger's read: %v, want not a member", err)
		}
	})
}

// TestResultsCacheConcurrentReads: readers on two replicas while votes release new versions
// (run with -race); every answer is consistent (its counts add up to its total) and no answer
// goes back to an older version for the same reader.
func TestResultsCacheConcurrentReads(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		policy := circly.DefaultPolicy()
		policy.TallyReleaseBatch = 1
		st := sqlstore.NewStore(db, policy, testkit.Ballots())
		reps := cachedReplicas(t, st, 2)
		users, c := circleOfThree(t, st, "rcache-conc-")
		p, err := reps[0].CreatePoll(ctx, users[0].ID, circly.CreatePollRequest{CircleID: c.ID,
			TemplateID: "00000000-0000-4000-8000-000000000001", Deadline: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for r := range 8 {
			wg.Go(func() {
				svc, viewer, last := reps[r%2], users[r%3].ID, -1
				for {
					select {
					case <-stop:
						return
					default:
					}
					got, err := svc.GetResults(ctx, viewer, p.ID)
					if err != nil {
						errs <- err
						return
					}
					sum := 0
					for _, x := range got.Results {
						sum += x.VoteCount
					}
					if sum != got.TotalVotes || got.TotalVotes != got.Version || got.Version < last {
						errs <- errors.New("inconsistent or older answer")
						return
					}
					last = got.Version
				}
			})
		}
		for i, voter := range users {
			time.Sleep(20 * time.Millisecond)
			if _, err := reps[i%2].Vote(ctx, voter.ID, circly.VoteRequest{PollID: p.ID, OptionID: p.Options[i%2].ID}); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(20 * time.Millisecond)
		close(stop)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if got, _ := reps[1].GetResults(ctx, users[0].ID, p.ID); got.TotalVotes != 3 {
			t.Fatalf("after three votes: %+v", got)
		}
	})
}

// TestResultsCacheRedisDown: with Redis gone a results read is served from the database and
// counted as an error, not failed.
func TestResultsCacheRedisDown(t *testing.T) {
	ctx := context.Background()
	st := sqlstore.NewStore(testdb.Open(t, sqlstore.SQLite), circly.DefaultPolicy(), testkit.Ballots())
	rs := testredis.New(t)
	rc := rs.Client()
	t.Cleanup(func() { _ = rc.Close() })
	svc := app.New(st, nil, nil)
	svc.ResultsCache = resultscache.NewRedis(rc, "circly:")
	users, c := circleOfThree(t, st, "rcache-down-")
	p, err := svc.CreatePoll(ctx, users[0].ID, circly.CreatePollRequest{CircleID: c.ID,
		TemplateID: "00000000-0000-4000-8000-000000000001", Deadline: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	rs.Stop()
	errorsBefore := cacheCount(metrics.ResultError)
	start := time.Now()
	r, err := svc.GetResults(ctx, users[1].ID, p.ID)
	if took := time.Since(start); took > time.Second {
		t.Errorf("results read with Redis down took %v; a cache call is bounded by %v", took, resultscache.OpTimeout)
	}
	if err != nil || len(r.Results) != 2 {
		t.Fatalf("results with Redis down: %+v %v", r, err)
	}
	if cacheCount(metrics.ResultError) != errorsBefore+1 {
		t.Fatal("the failed cache read was not counted as an error")
	}
}
