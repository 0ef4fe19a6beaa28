package sqlstore_test

import (
	"fmt"
	"testing"

	"circly"
)

func TestCreateReportTargets(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(3, 10)
		p := e.poll(fx, 0)
		reporter := fx.Users[1].ID
		desc := "not nice"
		for _, r := range []circly.NewReport{
			{Type: "poll", TargetID: p.ID, Reason: "bullying"},
			{Type: "circle", TargetID: fx.ID, Reason: "spam", Description: &desc},
			{Type: "user", TargetID: fx.Members[2].ID, Reason: "inappropriate"},
		} {
			got, _, err := e.s.FileReport(e.ctx, reporter, r)
			must(t, err)
			if got.ID == "" || got.Type != r.Type || got.TargetID != r.TargetID || got.Status != "pending" || !got.CreatedAt.Equal(t0) {
				t.Fatalf("report = %+v", got)
			}
		}
		// The stored user report names the membership, never a user id.
		if n := e.scalar(`SELECT count(*) FROM reports WHERE target_id = ?`, fx.Users[2].ID); n != 0 {
			t.Fatalf("a report holds the target's user id")
		}

		list, total, err := e.s.ListReports(e.ctx, reporter, circly.Page{Limit: 2})
		must(t, err)
		if total != 3 || len(list) != 2 {
			t.Fatalf("total %d, page %d", total, len(list))
		}
		if list[0].Description != nil && list[0].Type != "circle" {
			t.Fatalf("description on the wrong report: %+v", list[0])
		}
		rest, _, err := e.s.ListReports(e.ctx, reporter, circly.Page{Limit: 2, Offset: 2})
		must(t, err)
		if len(rest) != 1 {
			t.Fatalf("second page has %d", len(rest))
		}
		others, total, err := e.s.ListReports(e.ctx, fx.Users[0].ID, circly.Page{Limit: 20})
		must(t, err)
		if total != 0 || len(others) != 0 {
			t.Fatalf("another user sees %d reports", total)
		}
	})
}

func TestCreateReportHidesWhatTheReporterCannotSee(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(3, 10)
		p := e.poll(fx, 0)
		other := e.circle(3, 10)
		stranger := other.Users[0].ID
		const unknown = "7f0c1d2e-3b4a-4c5d-8e9f-a0b1c2d3e4f5"
		cases := []struct {
			user string
			r    circly.NewReport
			code circly.Code
		}{
			{stranger, circly.NewReport{Type: "poll", TargetID: p.ID, Reason: "spam"}, circly.CodePollNotFound},
			{stranger, circly.NewReport{Type: "poll", TargetID: unknown, Reason: "spam"}, circly.CodePollNotFound},
			{stranger, circly.NewReport{Type: "circle", TargetID: fx.ID, Reason: "spam"}, circly.CodeCircleNotFound},
			{stranger, circly.NewReport{Type: "user", TargetID: fx.Members[1].ID, Reason: "spam"}, circly.CodeNotFound},
			{fx.Users[1].ID, circly.NewReport{Type: "user", TargetID: fx.Members[1].ID, Reason: "spam"}, circly.CodeNotFound}, // oneself
			{fx.Users[1].ID, circly.NewReport{Type: "user", TargetID: unknown, Reason: "spam"}, circly.CodeNotFound},
		}
		for i, c := range cases {
			_, _, err := e.s.FileReport(e.ctx, c.user, c.r)
			if err == nil {
				t.Fatalf("case %d: no error", i)
			}
			wantCode(t, err, c.code)
		}
		// A member who left can still be reported by those who remain.
		_, err := e.s.LeaveCircle(e.ctx, fx.Users[2].ID, fx.ID)
		must(t, err)
		_, _, err = e.s.FileReport(e.ctx, fx.Users[1].ID, circly.NewReport{Type: "user", TargetID: fx.Members[2].ID, Reason: "bullying"})
		must(t, err)
		// One who left can no longer report the circle.
		_, _, err = e.s.FileReport(e.ctx, fx.Users[2].ID, circly.NewReport{Type: "circle", TargetID: fx.ID, Reason: "spam"})
		wantCode(t, err, circly.CodeCircleNotFound)
		if n := e.scalar(`SELECT count(*) FROM reports`); n != 1 {
			t.Fatalf("%d report rows, want 1", n)
		}
	})
}

func TestCreateReportOncePerPendingTarget(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(3, 10)
		u := fx.Users[1].ID
		r := circly.NewReport{Type: "circle", TargetID: fx.ID, Reason: "spam"}
		_, _, err := e.s.FileReport(e.ctx, u, r)
		must(t, err)
		_, _, err = e.s.FileReport(e.ctx, u, circly.NewReport{Type: "circle", TargetID: fx.ID, Reason: "other"})
		wantCode(t, err, circly.CodeAlreadyExists)
		// Another reporter may report the same target.
		_, _, err = e.s.FileReport(e.ctx, fx.Users[2].ID, r)
		must(t, err)
		// Once reviewed, the same reporter may report again.
		must(t, e.db.Gorm.Exec(`UPDATE reports SET status = 'reviewed' WHERE reporter_user_id = ?`, u).Error)
		_, _, err = e.s.FileReport(e.ctx, u, r)
		must(t, err)
	})
}

func TestCreateReportConcurrentDuplicatesLeaveOneRow(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(3, 10)
		p := e.poll(fx, 0)
		const n = 24
		errs := race(n, func(i int) error {
			_, _, err := e.s.FileReport(e.ctx, fx.Users[1].ID, circly.NewReport{Type: "poll", TargetID: p.ID,
				Reason: circly.ReportReasons[i%len(circly.ReportReasons)]})
			return err
		})
		ok, byCode := tallyErrors(t, errs)
		if ok != 1 || byCode[circly.CodeAlreadyExists] != n-1 {
			t.Fatalf("%d created, errors %v; want 1 and %d ALREADY_EXISTS", ok, byCode, n-1)
		}
		if c := e.scalar(`SELECT count(*) FROM reports WHERE target_id = ?`, p.ID); c != 1 {
			t.Fatalf("%d rows, want 1", c)
		}
	})
}

func TestReportOfDeletedAccountStays(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		fx := e.circle(3, 10)
		_, _, err := e.s.FileReport(e.ctx, fx.Users[1].ID, circly.NewReport{Type: "circle", TargetID: fx.ID, Reason: "spam"})
		must(t, err)
		_, err = e.s.DeleteUser(e.ctx, fx.Users[1].ID)
		must(t, err)
		if n := e.scalar(`SELECT count(*) FROM reports WHERE reporter_user_id IS NULL`); n != 1 {
			t.Fatalf("%d anonymous reports after the account went, want 1", n)
		}
		_, _, err = e.s.FileReport(e.ctx, fx.Users[1].ID, circly.NewReport{Type: "circle", TargetID: fx.ID, Reason: "spam"})
		if err == nil {
			t.Fatal(fmt.Errorf("a deleted account filed a report"))
		}
	})
}
