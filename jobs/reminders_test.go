package jobs_test

import (
	"testing"
	"time"

	"circly/internal/testdb"
	"circly/jobs"
	"circly/sqlstore"
)

func (e *dispatchEnv) reminders(pollID string) map[string][]string {
	e.t.Helper()
	var rows []struct{ UserID, DedupeKey string }
	if err := e.db.Gorm.Raw(`SELECT user_id, dedupe_key FROM notifications WHERE poll_id = ? AND type = 'poll_deadline'`, pollID).
		Scan(&rows).Error; err != nil {
		e.t.Fatal(err)
	}
	out := map[string][]string{}
	for _, r := range rows {
		out[r.DedupeKey] = append(out[r.DedupeKey], r.UserID)
	}
	return out
}

func TestDeadlineRemindersGoOnceToMembersWhoHaveNotVoted(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		start := seoul(t, 2026, 3, 10, 12, 0)
		e := newDispatchEnv(t, db, start)
		c := e.circle(4)
		p := e.poll(c, start.Add(3*time.Hour))
		if err := e.vote(c.Members[1], p, 1); err != nil {
			t.Fatal(err)
		}
		e.run(jobs.JobReminders)
		if r := e.reminders(p.ID); len(r) != 0 {
			t.Fatalf("reminders %v two hours early", r)
		}
		e.clock.Set(p.Deadline.Add(-time.Hour))
		for range 3 { // repeated ticks (or replicas) remind once
			e.run(jobs.JobReminders)
		}
		r := e.reminders(p.ID)
		if got := r["poll_deadline:60"]; len(got) != 3 {
			t.Fatalf("1 h reminders to %v, want the three who have not voted", got)
		}
		for _, u := range r["poll_deadline:60"] {
			if u == c.Members[1].User.ID {
				t.Fatal("a member who voted was reminded")
			}
		}
		if err := e.vote(c.Members[2], p, 0); err != nil {
			t.Fatal(err)
		}
		e.clock.Set(p.Deadline.Add(-10 * time.Minute))
		e.run(jobs.JobReminders)
		e.run(jobs.JobReminders)
		if got := e.reminders(p.ID)["poll_deadline:10"]; len(got) != 2 {
			t.Fatalf("10 min reminders to %v, want the two who have still not voted", got)
		}
		// Pushes carry the poll_deadline type.
		e.run(jobs.JobPushSend)
		n := 0
		for _, m := range e.expo.Messages() {
			if m.Data["type"] == "poll_deadline" {
				n++
			}
		}
		if n != 5 {
			t.Fatalf("%d poll_deadline pushes, want 5", n)
		}
	})
}

func TestRemindersThatNoLongerFitAreSkipped(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		start := seoul(t, 2026, 3, 10, 12, 0)
		e := newDispatchEnv(t, db, start)
		c := e.circle(3)
		short := e.poll(c, start.Add(30*time.Minute)) // opened after its 1 h mark
		long := e.poll(c, start.Add(2*time.Hour))
		// The job was away until five minutes before the long poll's deadline: only the 10 min
		// reminder goes out, never a late "1 hour left".
		e.clock.Set(long.Deadline.Add(-5 * time.Minute))
		e.run(jobs.JobReminders)
		e.run(jobs.JobReminders)
		if r := e.reminders(long.ID); len(r["poll_deadline:60"]) != 0 || len(r["poll_deadline:10"]) != 3 {
			t.Fatalf("long poll reminders %v, want only the 10 min one", r)
		}
		if r := e.reminders(short.ID); len(r) != 0 {
			t.Fatalf("closed-by-now short poll got reminders %v", r)
		}
		e2 := newDispatchEnv(t, testdb.Open(t, db.Dialect), start)
		c2 := e2.circle(3)
		s2 := e2.poll(c2, start.Add(30*time.Minute))
		e2.clock.Set(s2.Deadline.Add(-10 * time.Minute))
		e2.run(jobs.JobReminders)
		if r := e2.reminders(s2.ID); len(r["poll_deadline:60"]) != 0 || len(r["poll_deadline:10"]) != 3 {
			t.Fatalf("30 min poll reminders %v, want only the 10 min one", r)
		}
	})
}
