package sqlstore

import (
	"context"
	"time"

	"circly"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

// FileReport files a report. The target must be something the reporter can see: a poll or a
// circle of a circle they are an active member of, or a membership (current or past) of such a
// circle. Anything else answers the same not-found error as a target that does not exist, so a
// report cannot probe for ids. A second pending report of the same target by the same reporter
// is ALREADY_EXISTS; the partial unique index decides, so concurrent duplicates leave one row.
//
// A poll or membership report that brings the target's pending reports from distinct reporters
// to the policy's threshold hides the poll (restricts the membership) in the same transaction;
// the AutoHide says so, for the caller to announce. The report itself comes back the same
// either way.
func (s *Store) FileReport(ctx context.Context, userID string, r circly.NewReport) (circly.Report, circly.AutoHide, error) {
	out := circly.Report{ID: uuid.NewString(), Type: r.Type, TargetID: r.TargetID, Reason: r.Reason,
		Description: r.Description, Status: circly.ReportStatusPending, CreatedAt: s.Now()}
	var hide circly.AutoHide
	err := s.tx(ctx, func(tx *gorm.DB) error {
		if err := s.checkReportTarget(tx, userID, r.Type, r.TargetID); err != nil {
			return err
		}
		t, err := s.lockReportTarget(tx, r.Type, r.TargetID)
		if err != nil {
			return err
		}
		res := tx.Exec(`INSERT INTO reports (id, reporter_user_id, target_type, target_id, reason, description, status, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			out.ID, userID, out.Type, out.TargetID, out.Reason, out.Description, out.Status, out.CreatedAt)
		if res.Error != nil {
			if isConstraintError(res.Error) {
				return circly.ErrUnauthorized // the reporter's account is gone
			}
			return res.Error
		}
		if res.RowsAffected == 0 {
			return circly.Errorf(circly.CodeAlreadyExists, "you already reported this %s; it is waiting for review", r.Type)
		}
		hide, err = s.hideAtThreshold(tx, t, out.CreatedAt)
		return err
	})
	if err != nil {
		return circly.Report{}, circly.AutoHide{}, err
	}
	return out, hide, nil
}

// reportTarget is a poll or membership whose reports may hide it, locked for this report.
type reportTarget struct {
	typ, id, circleID string
	threshold         int // 0: reports of this target hide nothing
}

// lockReportTarget locks the row that reports of a poll (the poll) or of a member (the
// membership) would hide, before the report is inserted. Reports of one target so take turns,
// and each counts the reporters with every earlier report committed: on PostgreSQL's READ
// COMMITTED, two reports counted without the lock could each see the other missing, and the
// threshold would pass with nothing hidden. SQLite's single writer already takes turns.
func (s *Store) lockReportTarget(tx *gorm.DB, typ, id string) (reportTarget, error) {
	t := reportTarget{typ: typ, id: id}
	var q string
	switch typ {
	case "poll":
		t.threshold, q = s.policy.ReportHidePollAt, `SELECT circle_id FROM polls WHERE id = ?`
	case "user":
		t.threshold, q = s.policy.ReportHideMemberAt, `SELECT circle_id FROM circle_members WHERE id = ?`
	}
	if t.threshold <= 0 {
		return reportTarget{}, nil
	}
	var circles []string
	if err := tx.Raw(q+s.forUpdate(), id).Scan(&circles).Error; err != nil {
		return t, err
	}
	if len(circles) == 0 { // deleted since the check: the check's answer, had it come later
		return t, circly.ErrNotFound
	}
	t.circleID = circles[0]
	return t, nil
}

// hideAtThreshold hides the locked target once its pending reports come from threshold
// distinct reporters. The conditional update makes it once: a target hidden already (by an
// earlier report, or kept hidden by a moderator) is left as it is and reported as nothing new.
func (s *Store) hideAtThreshold(tx *gorm.DB, t reportTarget, now time.Time) (circly.AutoHide, error) {
	if t.threshold <= 0 {
		return circly.AutoHide{}, nil
	}
	var reporters int64
	if err := tx.Raw(`SELECT count(DISTINCT reporter_user_id) FROM reports
		WHERE target_type = ? AND target_id = ? AND status = ?`, t.typ, t.id, circly.ReportStatusPending).
		Scan(&reporters).Error; err != nil {
		return circly.AutoHide{}, err
	}
	if reporters < int64(t.threshold) {
		return circly.AutoHide{}, nil
	}
	q := `UPDATE polls SET hidden_at = ? WHERE id = ? AND hidden_at IS NULL`
	if t.typ == "user" {
		q = `UPDATE circle_members SET restricted_at = ? WHERE id = ? AND restricted_at IS NULL`
	}
	res := tx.Exec(q, now, t.id)
	if res.Error != nil || res.RowsAffected == 0 {
		return circly.AutoHide{}, res.Error
	}
	if t.typ == "user" {
		return circly.AutoHide{MemberID: t.id, CircleID: t.circleID}, nil
	}
	return circly.AutoHide{PollID: t.id, CircleID: t.circleID}, nil
}

// checkReportTarget returns nil when the reporter may report the target, else the target
// type's not-found error (never "forbidden": that would confirm the id exists).
func (s *Store) checkReportTarget(tx *gorm.DB, userID, typ, targetID string) error {
	var q string
	var missing *circly.Error
	switch typ {
	case "poll":
		q, missing = `SELECT count(*) FROM polls p
			JOIN circles c ON c.id = p.circle_id AND c.deleted_at IS NULL
			JOIN circle_members me ON me.circle_id = p.circle_id AND me.user_id = ? AND me.left_at IS NULL
			WHERE p.id = ?`, circly.ErrPollNotFound
	case "circle":
		q, missing = `SELECT count(*) FROM circles c
			JOIN circle_members me ON me.circle_id = c.id AND me.user_id = ? AND me.left_at IS NULL
			WHERE c.id = ? AND c.deleted_at IS NULL`, circly.ErrCircleNotFound
	case "user":
		// Reporting oneself is refused the same way as a stranger: the answer says nothing.
		q, missing = `SELECT count(*) FROM circle_members t
			JOIN circles c ON c.id = t.circle_id AND c.deleted_at IS NULL
			JOIN circle_members me ON me.circle_id = t.circle_id AND me.user_id = ? AND me.left_at IS NULL
			WHERE t.id = ? AND (t.user_id IS NULL OR t.user_id <> me.user_id)`, circly.ErrNotFound
	default:
		return circly.Errorf(circly.CodeValidation, "unknown report type %q", typ).WithDetails(map[string]any{"field": "type"})
	}
	var n int64
	if err := tx.Raw(q, userID, targetID).Scan(&n).Error; err != nil {
		return err
	}
	if n == 0 {
		return missing
	}
	return nil
}

// ListReports returns the reports the user filed, newest first.
func (s *Store) ListReports(ctx context.Context, userID string, page circly.Page) ([]circly.Report, int64, error) {
	db := s.conn(ctx)
	var total int64
	if err := db.Raw(`SELECT count(*) FROM reports WHERE reporter_user_id = ?`, userID).Scan(&total).Error; err != nil {
		return nil, 0, err
	}
	var rows []struct {
		ID          string
		TargetType  string
		TargetID    string
		Reason      string
		Description *string
		Status      string
		CreatedAt   time.Time
	}
	if err := db.Raw(`SELECT id, target_type, target_id, reason, description, status, created_at FROM reports
		WHERE reporter_user_id = ? ORDER BY created_at DESC, id LIMIT ? OFFSET ?`, userID, page.Limit, page.Offset).
		Scan(&rows).Error; err != nil {
		return nil, 0, err
	}
	out := make([]circly.Report, len(rows))
	for i, r := range rows {
		out[i] = circly.Report{ID: r.ID, Type: r.TargetType, TargetID: r.TargetID, Reason: r.Reason,
			Description: r.Description, Status: r.Status, CreatedAt: r.CreatedAt.UTC()}
	}
	return out, total, nil
}
