package jobs_test

import (
	"context"
	"testing"
	"time"

	"circly"
	"circly/internal/testkit"

	"circly/app"
	"circly/internal/testdb"
	"circly/jobs"
	"circly/push/pushtest"
	"circly/sqlstore"
)

// seoul returns a time on the wall clock of Asia/Seoul, the users' default timezone.
func seoul(t *testing.T, y int, mo time.Month, d, h, mi int) time.Time {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Seoul")
	if err != nil {
		t.Fatal(err)
	}
	return time.Date(y, mo, d, h, mi, 0, 0, loc).UTC()
}

// dispatchEnv is one store with a fixed clock, a fake Expo and the jobs over them.
type dispatchEnv struct {
	*fixture
	clock  *clock
	expo   *pushtest.Server
	runner *jobs.Runner
}

func newDispatchEnv(t *testing.T, db *sqlstore.DB, start time.Time) *dispatchEnv {
	st := sqlstore.NewStore(db, testPolicy(), testkit.Ballots())
	c := testkit.NewClock(start)
	st.SetClock(c.Now)
	expo := pushtest.New(t)
	svc := app.New(st, nil, nil)
	f := &fixture{t: t, ctx: context.Background(), db: db, store: st, app: svc}
	r := jobs.NewRunner(jobs.Deps{App: svc, Push: pushClient(expo)}, fastSettings())
	return &dispatchEnv{fixture: f, clock: c, expo: expo, runner: r}
}

func (e *dispatchEnv) run(name string) jobs.Counts {
	e.t.Helper()
	c, err := jobs.RunOnce(e.ctx, e.runner.Job(name))
	if err != nil {
		e.t.Fatalf("%s: %v", name, err)
	}
	return c
}

func (e *dispatchEnv) records(m member) []circly.PushRecord {
	e.t.Helper()
	r, err := e.store.PushRecords(e.ctx, m.User.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *dispatchEnv) received(m member) int {
	n := 0
	for _, msg := range e.expo.Messages() {
		if msg.To == m.Token {
			n++
		}
	}
	return n
}

func TestPushPayload(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		e := newDispatchEnv(t, db, seoul(t, 2026, 3, 10, 12, 0))
		c := e.circle(3)
		p := e.poll(c, e.clock.Now().Add(time.Hour))
		if got := e.run(jobs.JobPushSend)["sent"]; got != 2 {
			t.Fatalf("sent %d pushes, want 2 (every member but the creator)", got)
		}
		msgs := e.expo.Messages()
		for _, m := range msgs {
			if m.Title == "" || m.Body == "" {
				t.Fatalf("push without title or body: %+v", m)
			}
			want := map[string]string{"type": "poll_start", "poll_id": p.ID, "circle_id": c.ID, "url": "circly://poll/" + p.ID}
			for k, v := range want {
				if m.Data[k] != v {
					t.Fatalf("data[%s] = %q, want %q (%v)", k, m.Data[k], v, m.Data)
				}
			}
			if len(m.Data) != len(want) {
				t.Fatalf("data has extra keys: %v", m.Data)
			}
		}
		if e.received(c.Members[0]) != 0 {
			t.Fatal("the creator got a poll_start push")
		}
		// Nothing left: a second run sends nothing again.
		if got := e.run(jobs.JobPushSend)["sent"]; got != 0 || len(e.expo.Messages()) != 2 {
			t.Fatalf("second run sent %d, fake holds %d", got, len(e.expo.Messages()))
		}
		// Receipts are read and recorded.
		e.clock.Advance(time.Second)
		if got := e.run(jobs.JobPushReceipt)["ok"]; got != 2 {
			t.Fatalf("%d ok receipts, want 2", got)
		}
	})
}

func TestQuietHoursHoldPushUntilTheyEnd(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		e := newDispatchEnv(t, db, seoul(t, 2026, 3, 10, 23, 0)) // 23:00 in Seoul
		c := e.circle(3)
		quiet := c.Members[1]
		on, start, end := true, 22, 8
		if _, err := e.store.UpdateNotificationSettings(e.ctx, quiet.User.ID, circly.SettingsUpdate{
			QuietHoursEnabled: &on, QuietStartHour: &start, QuietEndHour: &end}); err != nil {
			t.Fatal(err)
		}
		e.poll(c, e.clock.Now().Add(12*time.Hour)) // still open when the quiet hours end
		// The in-app row is there at once.
		if n, err := e.store.UnreadNotificationCount(e.ctx, quiet.User.ID); err != nil || n != 1 {
			t.Fatalf("unread %d (%v), want 1", n, err)
		}
		counts := e.run(jobs.JobPushSend)
		if counts["held_quiet_hours"] != 1 || counts["sent"] != 1 {
			t.Fatalf("counts %v, want one held and one sent", counts)
		}
		if e.received(quiet) != 0 {
			t.Fatal("a push went out during quiet hours")
		}
		recs := e.records(quiet)
		if len(recs) != 1 || recs[0].Status != circly.PushPending || !recs[0].NextAttemptAt.Equal(seoul(t, 2026, 3, 11, 8, 0)) {
			t.Fatalf("outbox %+v, want pending until 08:00 Seoul", recs)
		}
		e.clock.Set(seoul(t, 2026, 3, 11, 7, 59))
		e.run(jobs.JobPushSend)
		if e.received(quiet) != 0 {
			t.Fatal("a push went out at 07:59")
		}
		e.clock.Set(seoul(t, 2026, 3, 11, 8, 0))
		if got := e.run(jobs.JobPushSend)["sent"]; got != 1 || e.received(quiet) != 1 {
			t.Fatalf("at 08:00 sent %d, received %d; want 1, 1", got, e.received(quiet))
		}
	})
}

func TestDailyCapDropsLaterPushes(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		e := newDispatchEnv(t, db, seoul(t, 2026, 3, 10, 9, 0))
		c := e.circle(3)
		capped := c.Members[1]
		limit := 2
		if _, err := e.store.UpdateNotificationSettings(e.ctx, capped.User.ID, circly.SettingsUpdate{MaxNotificationsPerDay: &limit}); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			e.poll(c, e.clock.Now().Add(3*time.Hour))
			e.clock.Advance(time.Minute)
		}
		e.run(jobs.JobPushSend)
		if got := e.received(capped); got != 2 {
			t.Fatalf("capped user received %d pushes, want 2", got)
		}
		if got := e.received(c.Members[2]); got != 3 {
			t.Fatalf("uncapped user received %d pushes, want 3", got)
		}
		var dropped int
		for _, r := range e.records(capped) {
			if r.Status == circly.PushDropped {
				dropped++
				if r.LastError == nil || *r.LastError != "daily_cap" {
					t.Fatalf("dropped push reason %v, want daily_cap", r.LastError)
				}
			}
		}
		if dropped != 1 {
			t.Fatalf("%d dropped pushes, want 1", dropped)
		}
		// All three stay in the app.
		if n, _ := e.store.UnreadNotificationCount(e.ctx, capped.User.ID); n != 3 {
			t.Fatalf("unread %d, want 3", n)
		}
		// The next local day (00:00 in Seoul) has a fresh allowance.
		e.clock.Set(seoul(t, 2026, 3, 11, 0, 0))
		e.poll(c, e.clock.Now().Add(3*time.Hour))
		e.run(jobs.JobPushSend)
		if got := e.received(capped); got != 3 {
			t.Fatalf("after midnight the capped user received %d pushes in all, want 3", got)
		}
	})
}

func TestTypeTurnedOffGetsNoPush(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		e := newDispatchEnv(t, db, seoul(t, 2026, 3, 10, 12, 0))
		c := e.circle(3)
		picky := c.Members[1]
		off := false
		if _, err := e.store.UpdateNotificationSettings(e.ctx, picky.User.ID, circly.SettingsUpdate{PollStartEnabled: &off}); err != nil {
			t.Fatal(err)
		}
		p := e.poll(c, e.clock.Now().Add(time.Hour))
		e.run(jobs.JobPushSend)
		if e.received(picky) != 0 {
			t.Fatal("a poll_start push reached a user who turned poll_start off")
		}
		recs := e.records(picky)
		if len(recs) != 1 || recs[0].Status != circly.PushSkipped || *recs[0].LastError != "type_disabled" {
			t.Fatalf("outbox %+v, want one skipped type_disabled", recs)
		}
		// Other types still come: the result at close.
		if err := e.vote(c.Members[2], p, 0); err != nil { // option 0 is m1 = picky
			t.Fatal(err)
		}
		e.clock.Advance(time.Hour)
		if got := e.run(jobs.JobClosePolls)["closed"]; got != 1 {
			t.Fatalf("closed %d polls, want 1", got)
		}
		e.run(jobs.JobPushSend)
		var types []string
		for _, m := range e.expo.Messages() {
			if m.To == picky.Token {
				types = append(types, m.Data["type"])
			}
		}
		if len(types) != 2 || types[0] == "poll_start" || types[1] == "poll_start" {
			t.Fatalf("picky user got pushes %v, want poll_result and picked", types)
		}
	})
}

func TestDeviceNotRegisteredSwitchesTokenOff(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		e := newDispatchEnv(t, db, seoul(t, 2026, 3, 10, 12, 0))
		c := e.circle(4)
		gone, lateGone := c.Members[1], c.Members[2]
		e.expo.MarkUnregistered(gone.Token)
		e.expo.MarkUnregisteredOnReceipt(lateGone.Token)
		e.poll(c, e.clock.Now().Add(time.Hour))
		e.run(jobs.JobPushSend)
		if _, active, _ := e.store.PushToken(e.ctx, gone.User.ID); active {
			t.Fatal("token still active after a DeviceNotRegistered ticket")
		}
		recs := e.records(gone)
		if len(recs) != 1 || recs[0].Status != circly.PushFailed || *recs[0].LastError != "DeviceNotRegistered" {
			t.Fatalf("outbox %+v, want failed DeviceNotRegistered", recs)
		}
		if _, active, _ := e.store.PushToken(e.ctx, lateGone.User.ID); !active {
			t.Fatal("token switched off before its receipt was read")
		}
		e.clock.Advance(time.Second)
		if got := e.run(jobs.JobPushReceipt)["device_not_registered"]; got != 1 {
			t.Fatalf("%d DeviceNotRegistered receipts, want 1", got)
		}
		if _, active, _ := e.store.PushToken(e.ctx, lateGone.User.ID); active {
			t.Fatal("token still active after a DeviceNotRegistered receipt")
		}
		// No push is queued for a switched-off token.
		e.poll(c, e.clock.Now().Add(2*time.Hour))
		if recs := e.records(gone); len(recs) != 1 {
			t.Fatalf("%d outbox rows for a switched-off token, want still 1", len(recs))
		}
	})
}

func TestPushFailsAfterBoundedAttempts(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		e := newDispatchEnv(t, db, seoul(t, 2026, 3, 10, 12, 0))
		s := fastSettings()
		s.PushMaxAttempts = 3
		e.runner = jobs.NewRunner(jobs.Deps{App: e.app, Push: pushClient(e.expo)}, s)
		c := e.circle(3)
		e.poll(c, e.clock.Now().Add(time.Hour))
		e.expo.Down()
		for i := range 3 {
			counts := e.run(jobs.JobPushSend)
			if i < 2 && counts["retry_later"] != 2 {
				t.Fatalf("attempt %d: %v, want 2 retry_later", i+1, counts)
			}
			e.clock.Advance(time.Minute)
		}
		for _, m := range c.Members[1:] {
			recs := e.records(m)
			if len(recs) != 1 || recs[0].Status != circly.PushFailed || recs[0].Attempts != 3 || recs[0].LastError == nil {
				t.Fatalf("outbox %+v, want failed after 3 attempts with a reason", recs)
			}
		}
		if err := e.expo.Up(); err != nil {
			t.Fatal(err)
		}
		e.run(jobs.JobPushSend)
		if n := len(e.expo.Messages()); n != 0 {
			t.Fatalf("%d failed pushes were sent after all", n)
		}
	})
}

func TestHeldNewsOfAnEndedPollIsNotPushed(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		e := newDispatchEnv(t, db, seoul(t, 2026, 3, 10, 23, 0))
		c := e.circle(3)
		sleeper := c.Members[1]
		on := true
		if _, err := e.store.UpdateNotificationSettings(e.ctx, sleeper.User.ID, circly.SettingsUpdate{QuietHoursEnabled: &on}); err != nil {
			t.Fatal(err)
		}
		p := e.poll(c, e.clock.Now().Add(time.Hour)) // ends at midnight, in the quiet hours
		e.run(jobs.JobPushSend)
		e.clock.Set(p.Deadline.Add(time.Second))
		e.run(jobs.JobClosePolls)
		e.clock.Set(seoul(t, 2026, 3, 11, 8, 0))
		e.run(jobs.JobPushSend)
		var types []string
		for _, m := range e.expo.Messages() {
			if m.To == sleeper.Token {
				types = append(types, m.Data["type"])
			}
		}
		if len(types) != 1 || types[0] != "poll_result" {
			t.Fatalf("after quiet hours the user got %v, want only the poll_result", types)
		}
	})
}
