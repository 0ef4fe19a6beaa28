package bench_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"circly"
	"circly/app"
	"circly/internal/testdb"
	"circly/internal/testkit"
	"circly/resultscache"
	"circly/sqlstore"

	"github.com/redis/go-redis/v9"
)

// BenchmarkGetResults measures the results read (the app's GetResults: access check, lazy
// close, ranking) of a 30-member circle's poll on PostgreSQL, without and with the Redis results
// cache, 8 readers in parallel. The version does not change during the run: the cache's best case.
//
//	go test ./bench/ -run '^$' -bench BenchmarkGetResults -benchtime 5000x -count 3
func BenchmarkGetResults(b *testing.B) {
	ctx := context.Background()
	db := testdb.Open(b, sqlstore.Postgres)
	policy := circly.DefaultPolicy()
	policy.TallyReleaseBatch = 1
	st := sqlstore.NewStore(db, policy, testkit.Ballots())
	users, pollID := resultsFixture(b, st)

	opts, err := redis.ParseURL(testdb.RedisURL(b))
	if err != nil {
		b.Fatal(err)
	}
	rc := redis.NewClient(opts)
	b.Cleanup(func() { _ = rc.Close() })
	prefix := testdb.RedisKeyPrefix(b, rc, "bench-results")

	for _, cached := range []bool{false, true} {
		b.Run(fmt.Sprintf("cache=%v", cached), func(b *testing.B) {
			svc := app.New(st, nil, nil)
			if cached {
				svc.ResultsCache = resultscache.NewRedis(rc, prefix)
			}
			var next atomic.Int64
			b.SetParallelism(4) // × GOMAXPROCS readers
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					u := users[next.Add(1)%int64(len(users))]
					if r, err := svc.GetResults(ctx, u.ID, pollID); err != nil || len(r.Results) != len(users)-1 {
						b.Errorf("results: %d options, %v", len(r.Results), err)
						return
					}
				}
			})
		})
	}
}

// resultsFixture makes a circle of 30 and a poll in it with 10 released votes.
func resultsFixture(tb testing.TB, st *sqlstore.Store) ([]circly.User, string) {
	ctx := context.Background()
	var users []circly.User
	for i := range 30 {
		u, err := st.DeviceLogin(ctx, fmt.Sprintf("bench-results-%d", i), "ios", nil)
		if err != nil {
			tb.Fatal(err)
		}
		users = append(users, u)
	}
	c, err := st.CreateCircle(ctx, users[0].ID, "bench", 50, "m0")
	if err != nil {
		tb.Fatal(err)
	}
	for i, u := range users[1:] {
		if _, _, err := st.JoinCircle(ctx, u.ID, circly.JoinRequest{InviteCode: *c.InviteCode, Nickname: fmt.Sprintf("m%d", i+1)}); err != nil {
			tb.Fatal(err)
		}
	}
	p, err := st.CreatePoll(ctx, users[0].ID, circly.CreatePollRequest{CircleID: c.ID,
		TemplateID: "00000000-0000-4000-8000-000000000001", Deadline: time.Now().Add(time.Hour)})
	if err != nil {
		tb.Fatal(err)
	}
	for i, u := range users[:10] {
		if _, err := st.Vote(ctx, u.ID, circly.VoteRequest{PollID: p.ID, OptionID: p.Options[i%3].ID}); err != nil {
			tb.Fatal(err)
		}
	}
	return users, p.ID
}
