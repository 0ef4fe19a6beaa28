package app_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"circly"
	"circly/internal/testkit"

	"circly/app"
	"circly/internal/testdb"
	"circly/sqlstore"
)

// TestLazyCloseAnnouncesLikeTheJob: a read that finds a poll past its deadline closes it through
// the app, so the final results, the circle event and the notifications all go out, once.
func TestLazyCloseAnnouncesLikeTheJob(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		st := sqlstore.NewStore(db, circly.DefaultPolicy(), testkit.Ballots())
		now := time.Date(2026, 3, 10, 3, 0, 0, 0, time.UTC)
		var mu sync.Mutex
		st.SetClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
		rec := &testkit.Recorder{}
		svc := app.New(st, rec, nil)

		users, c := circleOfThree(t, st, "app-close-")
		p, err := svc.CreatePoll(ctx, users[0].ID, circly.CreatePollRequest{CircleID: c.ID,
			TemplateID: "00000000-0000-4000-8000-000000000001", Deadline: now.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Vote(ctx, users[1].ID, circly.VoteRequest{PollID: p.ID, OptionID: p.Options[1].ID}); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		now = now.Add(time.Hour)
		mu.Unlock()
		// Every read that closes lazily: one poll, a list, results, a live subscription.
		got, err := svc.GetPoll(ctx, users[2].ID, p.ID)
		if err != nil || !got.IsClosed {
			t.Fatalf("read after the deadline: closed=%v err=%v", got.IsClosed, err)
		}
		list, _, err := svc.ListPolls(ctx, users[1].ID, circly.PollFilter{Status: "closed"}, circly.Page{Limit: 10})
		if err != nil || len(list) != 1 {
			t.Fatalf("closed polls after the deadline: %v %v", list, err)
		}
		if r, err := svc.GetResults(ctx, users[0].ID, p.ID); err != nil || !r.IsClosed {
			t.Fatalf("results after the deadline: closed=%v err=%v", r.IsClosed, err)
		}
		access := &app.LiveAccess{App: svc}
		if _, err := access.Authorize(ctx, users[2].ID, "poll:"+p.ID); err != nil {
			t.Fatal(err)
		}
		kinds := map[string]int{}
		for _, m := range rec.Messages() {
			kinds[m.Type+"/"+m.Event]++
		}
		// poll_start to 2, then at close: poll_result to 3, picked to 1.
		want := map[string]int{"poll_closed/": 1, "event/poll_closed": 1, "notification/": 2 + 3 + 1}
		for k, n := range want {
			if kinds[k] != n {
				t.Fatalf("published %v, want %v", kinds, want)
			}
		}
	})
}

// TestEveryReadClosesADuePoll: each read that shows a poll (one poll, its results, a live
// subscription, a list) closes it first when it is past its deadline, and only it.
func TestEveryReadClosesADuePoll(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		policy := circly.DefaultPolicy()
		policy.PollOpenLimit, policy.PollDailyLimit = 0, 0
		st := sqlstore.NewStore(db, policy, testkit.Ballots())
		now := time.Date(2026, 3, 10, 3, 0, 0, 0, time.UTC)
		var mu sync.Mutex
		st.SetClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
		svc := app.New(st, &testkit.Recorder{}, nil)
		users, c := circleOfThree(t, st, "app-reads-")
		reads := []struct {
			name string
			read func(pollID string) error
		}{
			{"live subscription", func(id string) error {
				_, err := (&app.LiveAccess{App: svc}).Authorize(ctx, users[1].ID, "poll:"+id)
				return err
			}},
			{"results", func(id string) error { _, err := svc.GetResults(ctx, users[1].ID, id); return err }},
			{"poll", func(id string) error { _, err := svc.GetPoll(ctx, users[1].ID, id); return err }},
			{"list", func(string) error {
				_, _, err := svc.ListPolls(ctx, users[1].ID, circly.PollFilter{Status: "all"}, circly.Page{Limit: 10})
				return err
			}},
		}
		ids := make([]string, len(reads))
		for i := range reads {
			p, err := svc.CreatePoll(ctx, users[0].ID, circly.CreatePollRequest{CircleID: c.ID,
				TemplateID: "00000000-0000-4000-8000-000000000001", Deadline: now.Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			ids[i] = p.ID
		}
		mu.Lock()
		now = now.Add(time.Hour)
		mu.Unlock()
		for i, r := range reads {
			if err := r.read(ids[i]); err != nil {
				t.Fatalf("%s: %v", r.name, err)
			}
			for j, id := range ids {
				p, err := st.GetPoll(ctx, users[0].ID, id)
				if err != nil {
					t.Fatal(err)
				}
				if want := j <= i; p.IsClosed != want {
					t.Fatalf("after the %s read, poll %d closed=%v, want %v", r.name, j, p.IsClosed, want)
				}
			}
		}
	})
}

// circleOfThree logs in three devices (prefix a, b, c) and forms a circle of them, the first
// its creator (m0), the others m1 and m2.
func circleOfThree(t *testing.T, st *sqlstore.Store, prefix string) ([]circly.User, circly.Circle) {
	t.Helper()
	ctx := context.Background()
	var users []circly.User
	for i := range 3 {
		u, err := st.DeviceLogin(ctx, prefix+string(rune('a'+i)), "ios", nil)
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, u)
	}
	c, err := st.CreateCircle(ctx, users[0].ID, "c", 10, "m0")
	if err != nil {
		t.Fatal(err)
	}
	for i, u := range users[1:] {
		if _, _, err := st.JoinCircle(ctx, u.ID, circly.JoinRequest{InviteCode: *c.InviteCode, Nickname: "m" + string(rune('1'+i))}); err != nil {
			t.Fatal(err)
		}
	}
	return users, c
}
