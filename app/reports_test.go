package app_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"circly"
	"circly/app"
	"circly/internal/testdb"
	"circly/internal/testkit"
	"circly/metrics"
	"circly/realtime"
	"circly/sqlstore"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// circleOf logs in n devices and forms a circle of them; users[0] created it.
func circleOf(t *testing.T, st *sqlstore.Store, prefix string, n int) ([]circly.User, circly.Circle) {
	t.Helper()
	ctx := context.Background()
	users := make([]circly.User, n)
	for i := range users {
		u, err := st.DeviceLogin(ctx, fmt.Sprintf("%s%02d", prefix, i), "ios", nil)
		if err != nil {
			t.Fatal(err)
		}
		users[i] = u
	}
	c, err := st.CreateCircle(ctx, users[0].ID, "c", 50, "m0")
	if err != nil {
		t.Fatal(err)
	}
	for i, u := range users[1:] {
		if _, _, err := st.JoinCircle(ctx, u.ID, circly.JoinRequest{InviteCode: *c.InviteCode, Nickname: fmt.Sprintf("m%d", i+1)}); err != nil {
			t.Fatal(err)
		}
	}
	return users, c
}

// hiddenAnnouncements counts the "poll hidden" control messages published for pollID.
func hiddenAnnouncements(rec *testkit.Recorder, pollID string) int {
	n := 0
	for _, m := range rec.Messages() {
		if m.Kind == realtime.KindEnded && m.Target == realtime.PollChannel(pollID) && m.Reason == realtime.EndedHidden {
			n++
		}
	}
	return n
}

// TestAutoHideAnnouncedOnce: 20 members report one poll at once (threshold 3). Every report is
// answered alike, the poll is hidden once, counted once in circly_auto_hides_total and
// announced once to every replica (reason "hidden", with its circle, so grants are dropped);
// circly_reports_total counts all 20. The poll's close afterwards announces nothing.
func TestAutoHideAnnouncedOnce(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		policy := circly.DefaultPolicy()
		policy.PollDailyLimit = 0
		st := sqlstore.NewStore(db, policy, testkit.Ballots())
		now := time.Date(2026, 3, 10, 3, 0, 0, 0, time.UTC)
		var mu sync.Mutex
		st.SetClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
		rec := &testkit.Recorder{}
		svc := app.New(st, rec, nil)

		const n = 20
		users, c := circleOf(t, st, "app-hide-"+string(db.Dialect)+"-", n+1)
		p, err := svc.CreatePoll(ctx, users[n].ID, circly.CreatePollRequest{CircleID: c.ID,
			TemplateID: "00000000-0000-4000-8000-000000000001", Deadline: now.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		reports := testutil.ToFloat64(metrics.Reports.WithLabelValues("poll"))
		hides := testutil.ToFloat64(metrics.AutoHides.WithLabelValues("poll"))
		answers := make([]circly.Report, n)
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				answers[i], errs[i] = svc.CreateReport(ctx, users[i].ID, circly.NewReport{Type: "poll", TargetID: p.ID, Reason: "bullying"})
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("report %d: %v", i, err)
			}
			if a := answers[i]; a.Status != circly.ReportStatusPending || a.Type != "poll" || a.TargetID != p.ID {
				t.Fatalf("answer %d = %+v", i, a)
			}
		}
		if got := hiddenAnnouncements(rec, p.ID); got != 1 {
			t.Fatalf("%d hidden announcements, want 1", got)
		}
		for _, m := range rec.Messages() {
			if m.Kind == realtime.KindEnded && m.CircleID != c.ID {
				t.Fatalf("announcement without its circle: %+v", m)
			}
		}
		if d := testutil.ToFloat64(metrics.AutoHides.WithLabelValues("poll")) - hides; d != 1 {
			t.Fatalf("circly_auto_hides_total{type=poll} grew by %v, want 1", d)
		}
		if d := testutil.ToFloat64(metrics.Reports.WithLabelValues("poll")) - reports; d != n {
			t.Fatalf("circly_reports_total{type=poll} grew by %v, want %d", d, n)
		}
		if _, err := svc.GetPoll(ctx, users[n].ID, p.ID); !errors.Is(err, circly.ErrPollNotFound) {
			t.Fatalf("the creator reads the hidden poll: %v", err)
		}

		before := len(rec.Messages())
		mu.Lock()
		now = now.Add(time.Hour)
		mu.Unlock()
		closed, notes, err := svc.ClosePoll(ctx, p.ID)
		if err != nil || !closed || notes != 0 {
			t.Fatalf("close: closed=%v notifications=%d err=%v", closed, notes, err)
		}
		if after := rec.Messages()[before:]; len(after) != 0 {
			t.Fatalf("the close of a hidden poll published %+v", after)
		}

		// The moderator path announces through the same method.
		svc.AnnouncePollHidden(ctx, p.ID, p.CircleID)
		if got := hiddenAnnouncements(rec, p.ID); got != 2 {
			t.Fatalf("AnnouncePollHidden published %d, want one more", got-1)
		}
	})
}

// TestResultsCacheNeverServesAHiddenPoll: results cached on two replicas before the hide; after
// it, both answer POLL_NOT_FOUND (the hide leaves the version, so the key, unchanged).
func TestResultsCacheNeverServesAHiddenPoll(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		policy := circly.DefaultPolicy()
		policy.TallyReleaseBatch, policy.ReportHidePollAt = 1, 2
		st := sqlstore.NewStore(db, policy, testkit.Ballots())
		reps := cachedReplicas(t, st, 2)
		users, c := circleOf(t, st, "rcache-hide-"+string(db.Dialect)+"-", 4)
		p, err := reps[0].CreatePoll(ctx, users[0].ID, circly.CreatePollRequest{CircleID: c.ID,
			TemplateID: "00000000-0000-4000-8000-000000000001", Deadline: st.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := reps[0].Vote(ctx, users[1].ID, circly.VoteRequest{PollID: p.ID, OptionID: p.Options[2].ID}); err != nil {
			t.Fatal(err)
		}
		for _, svc := range reps {
			if _, err := svc.GetResults(ctx, users[2].ID, p.ID); err != nil {
				t.Fatal(err)
			}
		}
		hits := cacheCount(metrics.CacheHit)
		for _, u := range users[1:3] {
			if _, err := reps[1].CreateReport(ctx, u.ID, circly.NewReport{Type: "poll", TargetID: p.ID, Reason: "spam"}); err != nil {
				t.Fatal(err)
			}
		}
		for i, svc := range reps {
			for _, u := range users {
				if _, err := svc.GetResults(ctx, u.ID, p.ID); !errors.Is(err, circly.ErrPollNotFound) {
					t.Fatalf("replica %d served results of a hidden poll to %s: %v", i, u.ID, err)
				}
			}
		}
		if cacheCount(metrics.CacheHit) != hits {
			t.Fatal("a read of the hidden poll reached the cache")
		}
	})
}
