package jobs_test

import (
	"testing"
	"time"

	"circly"
	"circly/internal/testdb"
	"circly/jobs"
	"circly/sqlstore"
)

// TestHiddenPollGetsNoPush: a poll hidden by reports while a member's poll_start push waits
// out quiet hours. That push ends unsent (poll_hidden), the close job still closes the poll,
// and neither its reminders nor its results reach anyone, in the app or by push.
func TestHiddenPollGetsNoPush(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		e := newDispatchEnv(t, db, seoul(t, 2026, 3, 10, 23, 0))
		c := e.circle(5)
		sleeper := c.Members[4]
		on := true
		if _, err := e.store.UpdateNotificationSettings(e.ctx, sleeper.User.ID, circly.SettingsUpdate{QuietHoursEnabled: &on}); err != nil {
			t.Fatal(err)
		}
		p := e.poll(c, e.clock.Now().Add(2*time.Hour))
		if got := e.run(jobs.JobPushSend)["sent"]; got != 3 {
			t.Fatalf("sent %d poll_start pushes, want 3 (one member is in quiet hours)", got)
		}
		for i := 1; i <= 3; i++ {
			if _, err := e.app.CreateReport(e.ctx, c.Members[i].User.ID, circly.NewReport{Type: "poll", TargetID: p.ID, Reason: "bullying"}); err != nil {
				t.Fatal(err)
			}
		}
		e.clock.Set(p.Deadline.Add(-5 * time.Minute))
		e.run(jobs.JobReminders)
		e.clock.Set(p.Deadline.Add(time.Second))
		if got := e.run(jobs.JobClosePolls)["closed"]; got != 1 {
			t.Fatalf("close job closed %d polls, want the hidden one", got)
		}
		e.clock.Set(seoul(t, 2026, 3, 11, 8, 0))
		e.run(jobs.JobPushSend)
		if n := e.received(sleeper); n != 0 {
			t.Fatalf("the member in quiet hours got %d pushes about a hidden poll", n)
		}
		if n := len(e.expo.Messages()); n != 3 {
			t.Fatalf("%d pushes in all, want only the 3 poll_start sent before the hide", n)
		}
		recs := e.records(sleeper)
		if len(recs) != 1 || recs[0].Status != circly.PushSkipped || recs[0].LastError == nil || *recs[0].LastError != "poll_hidden" {
			t.Fatalf("held push: %+v, want skipped for poll_hidden", recs)
		}
		if n := e.scalar(`SELECT count(*) FROM notifications WHERE poll_id = ? AND type <> ?`, p.ID, circly.NotifyPollStart); n != 0 {
			t.Fatalf("%d reminder or result notifications for a hidden poll", n)
		}
	})
}
