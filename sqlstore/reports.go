package sqlstore

import (
	"context"
	"time"

	"circly"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

// CreateReport files a report. The target must be something the reporter can see: a poll or a
// circle of a circle they are an active member of, or a membership (current or past) of such a
// circle. Anything else answers the same not-found error as a target that does not exist, so a
// report cannot probe for ids. A second pending report of the same target by the same reporter
// is ALREADY_EXISTS; the partial unique index decides, so concurrent duplicates leave one row.
func (s *Store) CreateReport(ctx context.Context, userID string, r circly.NewReport) (circly.Report, error) {
	out := circly.Report{ID: uuid.NewString(), Type: r.Type, TargetID: r.TargetID, Reason: r.Reason,
		Description: r.Description, Status: circly.ReportStatusPending, CreatedAt: s.Now()}
	err := s.tx(ctx, func(tx *gorm.DB) error {
		if err := s.checkReportTarget(tx, userID, r.Type, r.TargetID); err != nil {
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
		return nil
	})
	if err != nil {
		return circly.Report{}, err
	}
	return out, nil
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
