package sqlstore_test

import (
	"sync/atomic"
	"testing"
	"time"

	"circly"

	"gorm.io/gorm"
)

// voteAll makes members 1..n of the circle vote in a poll, each for the option after theirs.
func (e *env) voteAll(fx *circleFx, p circly.Poll, voters ...int) {
	e.t.Helper()
	for _, i := range voters {
		target := fx.Members[(i+1)%len(fx.Members)].ID
		if target == p.CreatorMemberID {
			target = fx.Members[(i+2)%len(fx.Members)].ID
		}
		e.vote(fx.Users[i].ID, p.ID, optionOf(e.t, p, target))
	}
}

func TestUserStatsAndStreak(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		e.clock.Set(t0.AddDate(0, 0, -5))
		fx := e.circle(4, 10)
		day := func(d int) { e.clock.Set(t0.AddDate(0, 0, d)) }
		u := fx.Users[1].ID
		e.voteAll(fx, e.poll(fx, 0), 1) // day -5
		day(-3)
		e.voteAll(fx, e.poll(fx, 0), 1, 2)
		day(-2)
		e.poll(fx, 1) // a poll created counts as activity
		day(-1)
		e.voteAll(fx, e.poll(fx, 0), 1)
		day(0)
		st, err := e.s.UserStats(e.ctx, u)
		must(t, err)
		if st.PollsCreated != 1 || st.VotesCast != 3 || st.CirclesJoined != 1 || st.StreakDays != 3 {
			t.Fatalf("stats = %+v, want 1 created, 3 votes, 1 circle, streak 3 (ending yesterday)", st)
		}
		e.voteAll(fx, e.poll(fx, 0), 1)
		st, err = e.s.UserStats(e.ctx, u)
		must(t, err)
		if st.StreakDays != 4 || st.VotesCast != 4 {
			t.Fatalf("stats = %+v, want streak 4 with today", st)
		}
		day(2)
		st, err = e.s.UserStats(e.ctx, u)
		must(t, err)
		if st.StreakDays != 0 {
			t.Fatalf("streak %d after a day off, want 0", st.StreakDays)
		}
		// A fresh user has nothing.
		st, err = e.s.UserStats(e.ctx, e.user().ID)
		must(t, err)
		if st != (circly.UserStats{}) {
			t.Fatalf("fresh user stats = %+v", st)
		}
		_, err = e.s.UserStats(e.ctx, "7f0c1d2e-3b4a-4c5d-8e9f-a0b1c2d3e4f5")
		wantCode(t, err, circly.CodeUnauthorized)
	})
}

// TestStreakLongerThanFirstWindow walks a 40-day streak, past the first windows the query reads.
func TestStreakLongerThanFirstWindow(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		e.clock.Set(t0.AddDate(0, 0, -39))
		fx := e.circle(3, 10)
		for d := -39; d <= 0; d++ {
			e.clock.Set(t0.AddDate(0, 0, d))
			e.poll(fx, 1)
		}
		st, err := e.s.UserStats(e.ctx, fx.Users[1].ID)
		must(t, err)
		if st.StreakDays != 40 || st.PollsCreated != 40 {
			t.Fatalf("stats = %+v, want a 40-day streak", st)
		}
	}, noPollLimits())
}

// TestStreakUsesLocalDays: two polls 10 hours apart are one day in UTC but two in Seoul.
func TestStreakUsesLocalDays(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		e.clock.Set(time.Date(2026, 3, 9, 5, 0, 0, 0, time.UTC)) // 14:00 in Seoul, March 9
		fx := e.circle(3, 10)
		e.poll(fx, 1)
		e.clock.Set(time.Date(2026, 3, 9, 16, 0, 0, 0, time.UTC)) // 01:00 in Seoul, March 10
		e.poll(fx, 1)
		st, err := e.s.UserStats(e.ctx, fx.Users[1].ID)
		must(t, err)
		if st.StreakDays != 2 {
			t.Fatalf("Seoul streak %d, want 2", st.StreakDays)
		}
		_, err = e.s.UpdateUser(e.ctx, fx.Users[1].ID, circly.UserUpdate{Timezone: ptr("UTC")})
		must(t, err)
		st, err = e.s.UserStats(e.ctx, fx.Users[1].ID)
		must(t, err)
		if st.StreakDays != 1 {
			t.Fatalf("UTC streak %d, want 1", st.StreakDays)
		}
	}, noPollLimits())
}

func TestCircleStats(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		e.clock.Set(t0.AddDate(0, 0, -2))
		fx := e.circle(4, 10)
		old := e.poll(fx, 0)
		e.voteAll(fx, old, 1, 2, 3)
		e.clock.Set(t0)
		closed, err := e.s.ClosePoll(e.ctx, old.ID)
		must(t, err)
		if !closed {
			t.Fatal("poll did not close")
		}
		now := e.poll(fx, 0)
		e.voteAll(fx, now, 1)

		st, err := e.s.CircleStats(e.ctx, fx.Users[2].ID, fx.ID)
		must(t, err)
		// Votes are released ones: today's single vote waits for its batch of 3.
		if st.TotalPolls != 2 || st.TotalVotes != 3 || st.ClosedPolls != 1 || st.ParticipationRate != 0.75 {
			t.Fatalf("stats = %+v, want 2 polls, 3 released votes, 1 closed, rate 0.75 (3 of 4 ballots)", st)
		}
		if len(st.Daily) != circly.StatsDays {
			t.Fatalf("%d days", len(st.Daily))
		}
		want := map[string][2]int64{"2026-03-08": {1, 3}, "2026-03-10": {1, 0}}
		if st.Daily[0].Date != "2026-03-04" || st.Daily[6].Date != "2026-03-10" {
			t.Fatalf("days %s..%s, want 2026-03-04..2026-03-10", st.Daily[0].Date, st.Daily[6].Date)
		}
		for _, d := range st.Daily {
			if w := want[d.Date]; d.Polls != w[0] || d.Votes != w[1] {
				t.Fatalf("%s: %d polls %d votes, want %v", d.Date, d.Polls, d.Votes, w)
			}
		}

		stranger := e.user()
		_, err = e.s.CircleStats(e.ctx, stranger.ID, fx.ID)
		wantCode(t, err, circly.CodeNotCircleMember)
		_, err = e.s.CircleStats(e.ctx, stranger.ID, "7f0c1d2e-3b4a-4c5d-8e9f-a0b1c2d3e4f5")
		wantCode(t, err, circly.CodeCircleNotFound)
		// An empty circle: zeros and seven empty days.
		empty := e.circle(1, 10)
		st, err = e.s.CircleStats(e.ctx, empty.Users[0].ID, empty.ID)
		must(t, err)
		if st.TotalPolls != 0 || st.ParticipationRate != 0 || len(st.Daily) != 7 {
			t.Fatalf("empty circle stats = %+v", st)
		}
	}, noPollLimits())
}

// countQueries counts the statements the store sends from now on.
func countQueries(t *testing.T, db *gorm.DB) *atomic.Int64 {
	t.Helper()
	var n atomic.Int64
	count := func(*gorm.DB) { n.Add(1) }
	must(t, db.Callback().Query().Before("gorm:query").Register("test:count_query", count))
	must(t, db.Callback().Row().Before("gorm:row").Register("test:count_row", count))
	must(t, db.Callback().Raw().Before("gorm:raw").Register("test:count_raw", count))
	return &n
}

// TestStatsQueryCountDoesNotGrow: the stats cost the same few statements for 1 poll as for 12.
func TestStatsQueryCountDoesNotGrow(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(4, 10)
		n := countQueries(t, e.db.Gorm)
		measure := func() (circle, user int64) {
			n.Store(0)
			_, err := e.s.CircleStats(e.ctx, fx.Users[1].ID, fx.ID)
			must(t, err)
			circle = n.Swap(0)
			_, err = e.s.UserStats(e.ctx, fx.Users[1].ID)
			must(t, err)
			return circle, n.Load()
		}
		e.voteAll(fx, e.poll(fx, 0), 1, 2)
		c1, u1 := measure()
		for range 11 {
			e.voteAll(fx, e.poll(fx, 0), 1, 2, 3)
		}
		c2, u2 := measure()
		if c1 != c2 || u1 != u2 || c1 > 3 || u1 > 2 {
			t.Fatalf("circle stats %d then %d statements, user stats %d then %d; want constant, at most 3 and 2", c1, c2, u1, u2)
		}
	}, noPollLimits())
}
