package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"circly"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

// Moderation: the queue of pending reports by target, what a moderator sees of a target, and
// decisions. A decision is one transaction: its reports, its effect on the target (hide,
// restore, delete, lift a restriction, a sanction rung, the account's removal), the member's
// notification and its audit row commit together or not at all.

// ReportQueue lists the targets with pending reports, the longest-waiting first.
func (s *Store) ReportQueue(ctx context.Context, page circly.Page) ([]circly.ReportedTarget, int64, error) {
	db := s.conn(ctx)
	var total int64
	if err := db.Raw(`SELECT count(*) FROM (SELECT 1 AS one FROM reports WHERE status = ? GROUP BY target_type, target_id) t`,
		circly.ReportStatusPending).Scan(&total).Error; err != nil {
		return nil, 0, err
	}
	var keys []struct{ TargetType, TargetID string }
	if err := db.Raw(`SELECT target_type, target_id FROM reports WHERE status = ? GROUP BY target_type, target_id
		ORDER BY min(created_at), target_type, target_id LIMIT ? OFFSET ?`, circly.ReportStatusPending, page.Limit, page.Offset).
		Scan(&keys).Error; err != nil {
		return nil, 0, err
	}
	out := make([]circly.ReportedTarget, 0, len(keys))
	for _, k := range keys {
		t, err := s.reportedTarget(db, k.TargetType, k.TargetID)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, t)
	}
	return out, total, nil
}

// reportedTarget sums up one target's pending reports. The rows are read whole (a target has a
// handful) so that the dates never pass through an SQL aggregate, which SQLite returns as text.
func (s *Store) reportedTarget(db *gorm.DB, typ, id string) (circly.ReportedTarget, error) {
	var rows []struct {
		ReporterUserID *string
		Reason         string
		CreatedAt      time.Time
	}
	if err := db.Raw(`SELECT reporter_user_id, reason, created_at FROM reports
		WHERE target_type = ? AND target_id = ? AND status = ? ORDER BY created_at`, typ, id, circly.ReportStatusPending).
		Scan(&rows).Error; err != nil {
		return circly.ReportedTarget{}, err
	}
	t := circly.ReportedTarget{TargetType: typ, TargetID: id, Reports: len(rows), Reasons: []string{}}
	reporters := map[string]bool{}
	for i, r := range rows {
		if i == 0 {
			t.FirstReported = r.CreatedAt.UTC()
		}
		t.LastReported = r.CreatedAt.UTC()
		if r.ReporterUserID != nil {
			reporters[*r.ReporterUserID] = true
		}
		if !slices.Contains(t.Reasons, r.Reason) {
			t.Reasons = append(t.Reasons, r.Reason)
		}
	}
	t.Reporters = len(reporters)
	hidden, err := s.targetHidden(db, typ, id)
	t.Hidden = hidden
	return t, err
}

// targetHidden tells whether a poll is hidden or a membership restricted.
func (s *Store) targetHidden(db *gorm.DB, typ, id string) (bool, error) {
	var q string
	switch typ {
	case "poll":
		q = `SELECT count(*) FROM polls WHERE id = ? AND hidden_at IS NOT NULL`
	case "user":
		q = `SELECT count(*) FROM circle_members WHERE id = ? AND restricted_at IS NOT NULL`
	default:
		return false, nil
	}
	var n int64
	err := db.Raw(q, id).Scan(&n).Error
	return n > 0, err
}

// TargetContent is what a moderator reads of a target: its words and its pending reports
// (never their reporters). A target that neither exists nor was ever reported is not found.
func (s *Store) TargetContent(ctx context.Context, typ, id string) (circly.TargetContent, error) {
	db := s.conn(ctx)
	out := circly.TargetContent{TargetType: typ, TargetID: id, Reports: []circly.TargetReport{}}
	var err error
	switch typ {
	case "poll":
		var p struct {
			CircleID, CircleName, QuestionText string
			Closed                             bool
			HiddenAt                           *time.Time
		}
		err = db.Raw(`SELECT p.circle_id, c.name AS circle_name, p.question_text, p.closed_at IS NOT NULL AS closed, p.hidden_at
			FROM polls p JOIN circles c ON c.id = p.circle_id WHERE p.id = ?`, id).Take(&p).Error
		out.CircleID, out.CircleName, out.QuestionText, out.PollClosed, out.HiddenAt = p.CircleID, p.CircleName, p.QuestionText, p.Closed, utcp(p.HiddenAt)
	case "circle":
		var c struct {
			Name        string
			MemberCount int
		}
		err = db.Raw(`SELECT name, member_count FROM circles WHERE id = ?`, id).Take(&c).Error
		out.CircleID, out.CircleName, out.MemberCount = id, c.Name, c.MemberCount
	case "user":
		var m struct {
			CircleID, CircleName, Nickname string
			Left                           bool
			RestrictedAt                   *time.Time
			UserID                         *string
		}
		err = db.Raw(`SELECT m.circle_id, c.name AS circle_name, m.nickname, m.left_at IS NOT NULL AS "left", m.restricted_at, m.user_id
			FROM circle_members m JOIN circles c ON c.id = m.circle_id WHERE m.id = ?`, id).Take(&m).Error
		out.CircleID, out.CircleName, out.Nickname, out.Left, out.RestrictedAt = m.CircleID, m.CircleName, m.Nickname, m.Left, utcp(m.RestrictedAt)
		if err == nil && m.UserID != nil {
			var n int64
			if err := db.Raw(`SELECT count(*) FROM sanctions WHERE user_id = ?`, *m.UserID).Scan(&n).Error; err != nil {
				return out, err
			}
			out.Sanctions = int(n)
			active, err := s.activeSanction(db, *m.UserID)
			if err != nil {
				return out, err
			}
			if active != nil {
				out.ActiveUntil = &active.Until
			}
		}
	default:
		return out, circly.ErrNotFound
	}
	switch {
	case err == nil:
		out.Exists = true
	case !errors.Is(err, gorm.ErrRecordNotFound):
		return out, err
	}
	var reports []struct {
		Reason      string
		Description *string
		CreatedAt   time.Time
	}
	if err := db.Raw(`SELECT reason, description, created_at FROM reports WHERE target_type = ? AND target_id = ? AND status = ?
		ORDER BY created_at LIMIT 200`, typ, id, circly.ReportStatusPending).Scan(&reports).Error; err != nil {
		return out, err
	}
	for _, r := range reports {
		out.Reports = append(out.Reports, circly.TargetReport{Reason: r.Reason, Description: r.Description, CreatedAt: r.CreatedAt.UTC()})
	}
	if !out.Exists && len(reports) == 0 {
		var n int64
		if err := db.Raw(`SELECT count(*) FROM reports WHERE target_type = ? AND target_id = ?`, typ, id).Scan(&n).Error; err != nil {
			return out, err
		}
		if n == 0 {
			return out, circly.Errorf(circly.CodeNotFound, "no %s with this id was ever reported", typ)
		}
	}
	return out, nil
}

func utcp(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// Decide applies a moderator's decision to every pending report of a target. The reports'
// UPDATE decides races: a second decision, however concurrent, finds none pending and answers
// ALREADY_DECIDED with nothing written.
func (s *Store) Decide(ctx context.Context, d circly.Decision, ladder circly.Ladder) (circly.DecisionResult, error) {
	if strings.TrimSpace(d.Reason) == "" {
		return circly.DecisionResult{}, circly.Errorf(circly.CodeValidation, "a decision needs a reason").
			WithDetails(map[string]any{"field": "reason"})
	}
	status := circly.ReportStatusDismissed
	if d.Action == circly.DecisionUphold {
		status = circly.ReportStatusReviewed
	} else if d.Action != circly.DecisionDismiss {
		return circly.DecisionResult{}, circly.Errorf(circly.CodeValidation, "decision must be dismiss or uphold")
	}
	var out circly.DecisionResult
	err := s.tx(ctx, func(tx *gorm.DB) error {
		out = circly.DecisionResult{AuditID: uuid.NewString()}
		now := s.Now()
		if s.dialect == Postgres {
			// Decisions on one target queue here whole, so two never interleave their row locks
			// (reports, then the poll or membership, then the account). SQLite has one writer.
			if err := tx.Exec(`SELECT pg_advisory_xact_lock(hashtext('circly decision ' || ?))`, d.TargetType+":"+d.TargetID).Error; err != nil {
				return err
			}
		}
		var reasons []string
		if err := tx.Raw(`UPDATE reports SET status = ?, resolved_at = ?, decided_by = ?, decision_id = ?
			WHERE target_type = ? AND target_id = ? AND status = ? RETURNING reason`,
			status, now, d.Operator, out.AuditID, d.TargetType, d.TargetID, circly.ReportStatusPending).Scan(&reasons).Error; err != nil {
			return err
		}
		if len(reasons) == 0 {
			var n int64
			if err := tx.Raw(`SELECT count(*) FROM reports WHERE target_type = ? AND target_id = ?`, d.TargetType, d.TargetID).
				Scan(&n).Error; err != nil {
				return err
			}
			if n == 0 {
				return circly.Errorf(circly.CodeNotFound, "no %s with this id was ever reported", d.TargetType)
			}
			return circly.ErrAlreadyDecided
		}
		out.Reports = len(reasons)
		category := mainReason(reasons)
		details := map[string]any{"reports": out.Reports, "category": category}
		var err error
		switch d.TargetType {
		case "poll":
			err = s.decidePoll(tx, d, now, &out, details)
		case "user":
			err = s.decideMember(tx, d, now, category, ladder, &out, details)
		case "circle":
			out.CircleID = d.TargetID
		}
		if err != nil {
			return err
		}
		return insertAudit(tx, circly.AuditEntry{ID: out.AuditID, Operator: d.Operator, Action: d.Action,
			TargetType: d.TargetType, TargetID: d.TargetID, Reason: d.Reason, CreatedAt: now}, details)
	})
	if err != nil {
		return circly.DecisionResult{}, err
	}
	return out, nil
}

// mainReason is the category most reports gave (ties: the contract's order): the only reason a
// sanctioned member is told.
func mainReason(reasons []string) string {
	best, bestN := "other", 0
	for _, r := range circly.ReportReasons {
		n := 0
		for _, x := range reasons {
			if x == r {
				n++
			}
		}
		if n > bestN {
			best, bestN = r, n
		}
	}
	return best
}

func (s *Store) decidePoll(tx *gorm.DB, d circly.Decision, now time.Time, out *circly.DecisionResult, details map[string]any) error {
	lock := s.forUpdate()
	if d.DeletePoll && s.dialect == Postgres {
		lock = " FOR UPDATE" // the row is deleted
	}
	var p []struct {
		CircleID string
		HiddenAt *time.Time
	}
	if err := tx.Raw(`SELECT circle_id, hidden_at FROM polls WHERE id = ?`+lock, d.TargetID).Scan(&p).Error; err != nil {
		return err
	}
	if len(p) == 0 {
		details["poll_gone"] = true // deleted by its creator meanwhile: the reports are decided all the same
		return nil
	}
	out.CircleID = p[0].CircleID
	switch {
	case d.Action == circly.DecisionDismiss && p[0].HiddenAt != nil:
		out.PollShown = true
		details["poll_restored"] = true
		return tx.Exec(`UPDATE polls SET hidden_at = NULL WHERE id = ?`, d.TargetID).Error
	case d.Action == circly.DecisionUphold && d.DeletePoll:
		out.PollDeleted = true
		details["poll_deleted"] = true
		return tx.Exec(`DELETE FROM polls WHERE id = ?`, d.TargetID).Error
	case d.Action == circly.DecisionUphold && p[0].HiddenAt == nil:
		out.PollHidden = true
		details["poll_hidden"] = true
		return tx.Exec(`UPDATE polls SET hidden_at = ? WHERE id = ?`, now, d.TargetID).Error
	}
	return nil
}

// decideMember lifts a reported membership's restriction (an uphold's sanction, per account,
// takes over from it) and, on an uphold, puts the account on its next rung.
func (s *Store) decideMember(tx *gorm.DB, d circly.Decision, now time.Time, category string, ladder circly.Ladder,
	out *circly.DecisionResult, details map[string]any) error {
	var m []struct {
		CircleID     string
		UserID       *string
		RestrictedAt *time.Time
	}
	if err := tx.Raw(`SELECT circle_id, user_id, restricted_at FROM circle_members WHERE id = ?`+s.forUpdate(), d.TargetID).
		Scan(&m).Error; err != nil {
		return err
	}
	if len(m) == 0 {
		return nil
	}
	out.CircleID = m[0].CircleID
	if m[0].RestrictedAt != nil {
		out.Restricted = true
		details["restriction_lifted"] = true
		if err := tx.Exec(`UPDATE circle_members SET restricted_at = NULL WHERE id = ?`, d.TargetID).Error; err != nil {
			return err
		}
	}
	if d.Action != circly.DecisionUphold || m[0].UserID == nil || len(ladder) == 0 {
		return nil // dismissed, or the account is gone already
	}
	return s.sanction(tx, *m[0].UserID, m[0].CircleID, category, ladder, now, out, details)
}

// sanction puts an account on the ladder's next rung: a time without creating polls or
// joining (with an in-app notification naming the category only), or its removal through the
// account-deletion path.
func (s *Store) sanction(tx *gorm.DB, userID, circleID, category string, ladder circly.Ladder, now time.Time,
	out *circly.DecisionResult, details map[string]any) error {
	// The user's row orders concurrent upholds against one account (through two memberships):
	// each counts the rungs the other wrote.
	var user []struct{ Timezone string }
	if err := tx.Raw(`SELECT timezone FROM users WHERE id = ?`+s.forUpdate(), userID).Scan(&user).Error; err != nil {
		return err
	}
	if len(user) == 0 {
		return nil
	}
	var n int64
	if err := tx.Raw(`SELECT count(*) FROM sanctions WHERE user_id = ?`, userID).Scan(&n).Error; err != nil {
		return err
	}
	step := ladder.Rung(int(n))
	rung := min(int(n)+1, len(ladder))
	applied := &circly.AppliedSanction{UserID: userID, Rung: rung, Step: step, Reason: category}
	out.Sanction = applied
	sd := map[string]any{"rung": rung, "step": step.String()}
	details["sanction"] = sd
	if step.Remove {
		// As DELETE /v1/users/me: the account's uploads go first, then the account.
		out.RemovedUploads = []string{}
		if err := tx.Raw(`DELETE FROM uploads WHERE user_id = ? RETURNING id`, userID).Scan(&out.RemovedUploads).Error; err != nil {
			return err
		}
		ended, err := s.deleteUserTx(tx, userID, now)
		if err != nil {
			return err
		}
		out.Removed = ended
		return nil
	}
	until := now.Add(step.Duration)
	applied.Until = &until
	sd["until"] = until.Format(time.RFC3339)
	if err := tx.Exec(`INSERT INTO sanctions (id, user_id, rung, ends_at, reason, decision_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		uuid.NewString(), userID, rung, until, category, out.AuditID, now).Error; err != nil {
		return err
	}
	loc, err := time.LoadLocation(user[0].Timezone)
	if err != nil {
		loc = time.UTC
	}
	title, msg := circly.SanctionText(category, until, loc)
	note := circly.Notification{ID: uuid.NewString(), UserID: userID, Type: circly.NotifyModeration, Title: title, Message: msg,
		CircleID: circleID, CreatedAt: now}
	// In-app only (no push row): the member reads it when they open the app.
	if err := tx.Exec(`INSERT INTO notifications (id, user_id, type, dedupe_key, title, message, poll_id, circle_id, created_at)
		VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?)`, note.ID, userID, note.Type, out.AuditID, title, msg, circleID, now).Error; err != nil {
		return err
	}
	out.Notifications = append(out.Notifications, note)
	return nil
}

// insertAudit appends one row to the audit log, in the caller's transaction.
func insertAudit(tx *gorm.DB, e circly.AuditEntry, details map[string]any) error {
	b, err := json.Marshal(details)
	if err != nil {
		return err
	}
	return tx.Exec(`INSERT INTO audit_log (id, operator, action, target_type, target_id, reason, details, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, e.ID, e.Operator, e.Action, nullable(e.TargetType), nullable(e.TargetID),
		e.Reason, string(b), e.CreatedAt).Error
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// ActiveSanction is the account's sanction in force now, nil when none: it ends exactly at
// its until.
func (s *Store) ActiveSanction(ctx context.Context, userID string) (*circly.Sanction, error) {
	return s.activeSanction(s.conn(ctx), userID)
}

func (s *Store) activeSanction(db *gorm.DB, userID string) (*circly.Sanction, error) {
	var rows []struct {
		EndsAt time.Time
		Reason string
		Rung   int
	}
	if err := db.Raw(`SELECT ends_at, reason, rung FROM sanctions WHERE user_id = ? AND ends_at > ? ORDER BY ends_at DESC LIMIT 1`,
		userID, s.Now()).Scan(&rows).Error; err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return &circly.Sanction{Until: rows[0].EndsAt.UTC(), Reason: rows[0].Reason, Rung: rows[0].Rung}, nil
}

// AuditLog lists the audit log, newest first.
func (s *Store) AuditLog(ctx context.Context, page circly.Page) ([]circly.AuditEntry, int64, error) {
	db := s.conn(ctx)
	var total int64
	if err := db.Raw(`SELECT count(*) FROM audit_log`).Scan(&total).Error; err != nil {
		return nil, 0, err
	}
	var rows []struct {
		ID, Operator, Action string
		TargetType, TargetID *string
		Reason, Details      string
		CreatedAt            time.Time
	}
	if err := db.Raw(`SELECT id, operator, action, target_type, target_id, reason, details, created_at FROM audit_log
		ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`, page.Limit, page.Offset).Scan(&rows).Error; err != nil {
		return nil, 0, err
	}
	out := make([]circly.AuditEntry, len(rows))
	for i, r := range rows {
		out[i] = circly.AuditEntry{ID: r.ID, Operator: r.Operator, Action: r.Action, Reason: r.Reason, Details: r.Details,
			CreatedAt: r.CreatedAt.UTC()}
		if r.TargetType != nil {
			out[i].TargetType = *r.TargetType
		}
		if r.TargetID != nil {
			out[i].TargetID = *r.TargetID
		}
	}
	return out, total, nil
}

// Audit actions that are not decisions.
const (
	AuditTokenIssued  = "token_issued"
	AuditTokenRevoked = "token_revoked"
)

// RecordOperatorToken stores an issued operator token with its audit row.
func (s *Store) RecordOperatorToken(ctx context.Context, id, operator, reason string, issued, expires time.Time) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Exec(`INSERT INTO operator_tokens (id, operator, issued_at, expires_at) VALUES (?, ?, ?, ?)`,
			id, operator, issued.UTC(), expires.UTC()).Error; err != nil {
			return err
		}
		return insertAudit(tx, circly.AuditEntry{ID: uuid.NewString(), Operator: operator, Action: AuditTokenIssued,
			TargetType: "token", TargetID: id, Reason: reason, CreatedAt: issued.UTC()},
			map[string]any{"expires_at": expires.UTC().Format(time.RFC3339)})
	})
}

// RevokeOperatorToken stops a token at once, with its audit row; revoking twice is not found.
func (s *Store) RevokeOperatorToken(ctx context.Context, id, by, reason string) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		now := s.Now()
		res := tx.Exec(`UPDATE operator_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, now, id)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return circly.Errorf(circly.CodeNotFound, "no unrevoked operator token has this id")
		}
		return insertAudit(tx, circly.AuditEntry{ID: uuid.NewString(), Operator: by, Action: AuditTokenRevoked,
			TargetType: "token", TargetID: id, Reason: reason, CreatedAt: now}, map[string]any{})
	})
}

// OperatorTokenActive tells whether an operator token was issued, is unexpired and not revoked.
func (s *Store) OperatorTokenActive(ctx context.Context, id string) (bool, error) {
	var n int64
	err := s.conn(ctx).Raw(`SELECT count(*) FROM operator_tokens WHERE id = ? AND revoked_at IS NULL AND expires_at > ?`,
		id, s.Now()).Scan(&n).Error
	return n > 0, err
}
