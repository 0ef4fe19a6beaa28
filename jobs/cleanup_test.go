package jobs_test

import (
	"testing"
	"time"

	"circly/internal/testdb"
	"circly/jobs"
	"circly/metrics"
	"circly/sqlstore"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestCleanupAndGauges(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		start := seoul(t, 2026, 3, 10, 12, 0)
		e := newDispatchEnv(t, db, start)
		c := e.circle(3)
		p := e.poll(c, start.Add(time.Hour))
		reader := c.Members[1]
		if _, err := e.store.IssueRefreshToken(e.ctx, reader.User.ID); err != nil {
			t.Fatal(err)
		}

		e.run(jobs.JobGauges)
		if v := testutil.ToFloat64(metrics.ActivePolls); v != 1 {
			t.Fatalf("active_polls_total %v, want 1", v)
		}
		if v := testutil.ToFloat64(metrics.ActiveUsers24h); v != 3 {
			t.Fatalf("active_users_24h %v, want 3", v)
		}

		if _, err := e.store.MarkAllNotificationsRead(e.ctx, reader.User.ID); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(89 * 24 * time.Hour)
		// The invite expired 24 h after creation and is freed after the 7-day grace; the refresh
		// token lived 30 days, plus the same grace.
		if got := e.run(jobs.JobCleanup); got["read_notifications"] != 0 || got["invite_codes_freed"] != 1 || got["refresh_tokens"] != 1 {
			t.Fatalf("cleanup at 89 days: %v", got)
		}
		e.clock.Advance(2 * 24 * time.Hour)
		got := e.run(jobs.JobCleanup)
		if got["read_notifications"] != 1 || got["refresh_tokens"] != 0 {
			t.Fatalf("cleanup at 91 days: %v, want the read notification only", got)
		}
		// Unread notifications stay, as does the poll.
		if n, _ := e.store.UnreadNotificationCount(e.ctx, c.Members[2].User.ID); n != 1 {
			t.Fatalf("unread notifications %d after cleanup, want 1", n)
		}
		if n := e.scalar(`SELECT count(*) FROM polls WHERE id = ?`, p.ID); n != 1 {
			t.Fatal("cleanup removed a poll")
		}
		if n := e.scalar(`SELECT count(*) FROM circles WHERE id = ? AND invite_code IS NULL AND invite_link_id IS NOT NULL`, c.ID); n != 1 {
			t.Fatal("expired invite code not freed, or its link removed")
		}
	})
}
