package app_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"circly/internal/testkit"

	"circly/app"
	"circly/internal/testdb"
	"circly/models"
)

// TestLazyCloseAnnouncesLikeTheJob: a read that finds a poll past its deadline closes it through
// the app, so the final results, the circle event and the notifications all go out, once.
func TestLazyCloseAnnouncesLikeTheJob(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		st := models.NewStore(db, models.DefaultPolicy(), testkit.Ballots())
		now := time.Date(2026, 3, 10, 3, 0, 0, 0, time.UTC)
		var mu sync.Mutex
		st.SetClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
		rec := &testkit.Recorder{}
		svc := app.New(st, rec, nil)

		var users []models.User
		for i := range 3 {
			u, err := st.DeviceLogin(ctx, "app-close-"+string(rune('a'+i)), "ios", nil)
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
			if _, _, err := st.JoinCircle(ctx, u.ID, models.JoinRequest{InviteCode: *c.InviteCode, Nickname: "m" + string(rune('1'+i))}); err != nil {
				t.Fatal(err)
			}
		}
		p, err := svc.CreatePoll(ctx, users[0].ID, models.CreatePollRequest{CircleID: c.ID,
			TemplateID: "00000000-0000-4000-8000-000000000001", Deadline: now.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Vote(ctx, users[1].ID, models.VoteRequest{PollID: p.ID, OptionID: p.Options[1].ID}); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		now = now.Add(time.Hour)
		mu.Unlock()
		for range 3 {
			got, err := st.GetPoll(ctx, users[2].ID, p.ID)
			if err != nil || !got.IsClosed {
				t.Fatalf("read after the deadline: closed=%v err=%v", got.IsClosed, err)
			}
		}
		kinds := map[string]int{}
		for _, m := range rec.Messages() {
			var f struct{ Type, Event string }
			if err := json.Unmarshal(m.Frame, &f); err != nil {
				t.Fatal(err)
			}
			kinds[f.Type+"/"+f.Event]++
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
