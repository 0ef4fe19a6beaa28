package sqlstore

import (
	"context"
	"time"

	"circly"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

// pollRow is the stored poll with the viewer's facts joined in.
type pollRow struct {
	ID              string
	CircleID        string
	CreatorMemberID string
	TemplateID      string
	QuestionText    string
	Deadline        time.Time
	CreatedAt       time.Time
	ClosedAt        *time.Time
	ReleasedTotal   int
	ReleasedVersion int
	ReleasedCounts  string
	ViewerMemberID  *string
	UserVoted       bool
}

// pollSelect reads polls as a viewer (first argument: the viewer's user id, twice). Its users
// add visiblePoll: a poll hidden by reports is not there for members.
const pollSelect = `SELECT p.id, p.circle_id, p.creator_member_id, p.template_id, p.question_text, p.deadline,
	p.created_at, p.closed_at, p.released_total, p.released_version, p.released_counts, m.id AS viewer_member_id,
	EXISTS (SELECT 1 FROM poll_participants pp WHERE pp.poll_id = p.id AND pp.user_id = ?) AS user_voted
	FROM polls p
	JOIN circles c ON c.id = p.circle_id AND c.deleted_at IS NULL
	LEFT JOIN circle_members m ON m.circle_id = p.circle_id AND m.user_id = ? AND m.left_at IS NULL`

// visiblePoll is the condition on polls p that members may see: not hidden by reports (or
// kept hidden by a moderator). A hidden poll answers POLL_NOT_FOUND like one that never was.
const visiblePoll = `p.hidden_at IS NULL`

func (r pollRow) view() circly.Poll {
	return circly.Poll{
		ID: r.ID, CircleID: r.CircleID, CreatorMemberID: r.CreatorMemberID, TemplateID: r.TemplateID,
		QuestionText: r.QuestionText, Deadline: r.Deadline, CreatedAt: r.CreatedAt, ClosedAt: r.ClosedAt,
		TotalVotes: r.ReleasedTotal, Version: r.ReleasedVersion, IsClosed: r.ClosedAt != nil, UserVoted: r.UserVoted,
	}
}

// checkDeadline keeps a deadline inside the allowed window, with a few seconds of slack for a
// client whose deadline of "now + 5 min" arrives a moment later (never below half the minimum).
func (s *Store) checkDeadline(deadline, now time.Time) error {
	minD, maxD := s.policy.PollMinDuration, s.policy.PollMaxDuration
	slack := min(deadlineSlack, minD/2)
	if deadline.Before(now.Add(minD-slack)) || deadline.After(now.Add(maxD+deadlineSlack)) {
		return circly.Errorf(circly.CodeValidation, "deadline must be between %s and %s from now", minD, maxD).
			WithDetails(map[string]any{"field": "deadline"})
	}
	return nil
}

const deadlineSlack = 5 * time.Second

// CreatePoll opens a poll whose options are every other active member, in join order.
func (s *Store) CreatePoll(ctx context.Context, userID string, req circly.CreatePollRequest) (circly.Poll, error) {
	p, _, err := s.CreatePollWithNotifications(ctx, userID, req)
	return p, err
}

// CreatePollWithNotifications is CreatePoll that also returns the poll_start notifications it
// wrote in the poll's transaction (every member but the creator), for the caller to announce.
func (s *Store) CreatePollWithNotifications(ctx context.Context, userID string, req circly.CreatePollRequest) (circly.Poll, []circly.Notification, error) {
	pollID := uuid.NewString()
	var notes []circly.Notification
	err := s.tx(ctx, func(tx *gorm.DB) error {
		now := s.Now()
		if err := s.checkDeadline(req.Deadline, now); err != nil {
			return err
		}
		// Lock order: user, then circle. The user lock keeps the daily limit exact.
		var user struct{ Timezone string }
		if err := tx.Raw(`SELECT timezone FROM users WHERE id = ?`+s.forUpdate(), userID).Take(&user).Error; err != nil {
			return notFound(err, circly.ErrUnauthorized)
		}
		me, err := s.lockedMembership(tx, req.CircleID, userID)
		if err != nil {
			return err
		}
		if err := s.checkNotRestricted(tx, req.CircleID, userID); err != nil {
			return err
		}
		var tpl circly.Template
		if err := tx.Raw(`SELECT id, question_text FROM question_templates WHERE id = ? AND is_active = true`,
			req.TemplateID).Take(&tpl).Error; err != nil {
			return notFound(err, circly.ErrTemplateNotFound)
		}
		members, err := s.activeMembers(tx, req.CircleID)
		if err != nil {
			return err
		}
		if len(members) < 3 {
			return circly.ErrCircleTooSmall
		}
		if lim := s.policy.PollOpenLimit; lim > 0 {
			var open int64
			// A hidden poll does not count: members cannot see it, so it must not block them.
			if err := tx.Raw(`SELECT count(*) FROM polls p WHERE p.circle_id = ? AND p.closed_at IS NULL AND p.deadline > ?
				AND `+visiblePoll,
				req.CircleID, now).Scan(&open).Error; err != nil {
				return err
			}
			if open >= int64(lim) {
				return circly.ErrTooManyActivePolls.WithDetails(map[string]any{"limit": lim})
			}
		}
		if lim := s.policy.PollDailyLimit; lim > 0 {
			since := startOfLocalDay(now, user.Timezone)
			var made int64
			if err := tx.Raw(`SELECT count(*) FROM poll_creations WHERE user_id = ? AND created_at >= ?`,
				userID, since).Scan(&made).Error; err != nil {
				return err
			}
			if made >= int64(lim) {
				next := since.AddDate(0, 0, 1)
				return circly.ErrTooManyPolls.WithDetails(map[string]any{"limit": lim, "retry_after_seconds": int(next.Sub(now).Seconds()) + 1})
			}
		}
		zero := s.zeroCounts(len(members) - 1)
		if err := tx.Exec(`INSERT INTO polls (id, circle_id, creator_member_id, template_id, question_text, deadline, created_at,
			released_counts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, pollID, req.CircleID, me.ID, tpl.ID, tpl.QuestionText,
			req.Deadline.UTC().Truncate(time.Microsecond), now, zero).Error; err != nil {
			return err
		}
		if err := tx.Exec(`INSERT INTO poll_creations (poll_id, user_id, created_at) VALUES (?, ?, ?)`, pollID, userID, now).Error; err != nil {
			return err
		}
		order := 0
		for _, m := range members {
			if m.ID == me.ID {
				continue
			}
			order++
			if err := tx.Exec(`INSERT INTO poll_options (id, poll_id, member_id, member_nickname, display_order)
				VALUES (?, ?, ?, ?, ?)`, uuid.NewString(), pollID, m.ID, m.Nickname, order).Error; err != nil {
				return err
			}
		}
		var circleName string
		if err := tx.Raw(`SELECT name FROM circles WHERE id = ?`, req.CircleID).Row().Scan(&circleName); err != nil {
			return err
		}
		notes, err = s.writeNotifications(tx, pollID, req.CircleID,
			pollStartNotes(members, me.ID, circleName, tpl.QuestionText), now)
		if err != nil {
			return err
		}
		// Counted without touching the template's row: every poll of a popular template would
		// wait on its lock (see migration 00005 and FoldTemplateUses).
		return tx.Exec(`INSERT INTO template_uses (template_id) VALUES (?)`, tpl.ID).Error
	})
	if err != nil {
		return circly.Poll{}, nil, err
	}
	p, err := s.GetPoll(ctx, userID, pollID)
	return p, notes, err
}

// checkNotRestricted refuses poll creation to a member whose membership in the circle reports
// restricted, until a moderator decides. Any membership of the person counts, a past one too:
// leaving and joining again does not clear it. The answer names no reporter and no count.
func (s *Store) checkNotRestricted(tx *gorm.DB, circleID, userID string) error {
	var n int64
	if err := tx.Raw(`SELECT count(*) FROM circle_members WHERE circle_id = ? AND user_id = ? AND restricted_at IS NOT NULL`,
		circleID, userID).Scan(&n).Error; err != nil {
		return err
	}
	if n > 0 {
		return circly.ErrMemberRestricted
	}
	return nil
}

// startOfLocalDay is midnight of now's day in the user's timezone.
func startOfLocalDay(now time.Time, tz string) time.Time {
	loc, err := time.LoadLocation(tz)
	if err != nil {
		loc = time.UTC
	}
	l := now.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc).UTC()
}

// pollForViewer loads a poll the user may see. A poll past its deadline that nothing has closed
// yet comes back as it is (Due): closing it is the app's, which announces the close.
func (s *Store) pollForViewer(ctx context.Context, userID, pollID string) (pollRow, error) {
	var r pollRow
	err := s.conn(ctx).Raw(pollSelect+` WHERE p.id = ? AND `+visiblePoll, userID, userID, pollID).Take(&r).Error
	if err != nil {
		return r, notFound(err, circly.ErrPollNotFound)
	}
	if r.ViewerMemberID == nil {
		return r, circly.ErrNotCircleMember
	}
	return r, nil
}

// GetPoll returns a poll with its options and released counts.
func (s *Store) GetPoll(ctx context.Context, userID, pollID string) (circly.Poll, error) {
	r, err := s.pollForViewer(ctx, userID, pollID)
	if err != nil {
		return circly.Poll{}, err
	}
	p := r.view()
	counts, err := parseCounts(r.ReleasedCounts)
	if err != nil {
		return circly.Poll{}, err
	}
	p.Options, err = s.options(s.conn(ctx), pollID, userID, counts)
	return p, err
}

// options lists a poll's options; IsSelf marks the viewer's own, also one that names an
// earlier membership of the viewer (they left and rejoined).
func (s *Store) options(db *gorm.DB, pollID, viewerUserID string, released []int) ([]circly.Option, error) {
	var rows []struct {
		ID             string
		MemberID       string
		MemberNickname string
		DisplayOrder   int
		OwnerUserID    *string
	}
	if err := db.Raw(`SELECT o.id, o.member_id, o.member_nickname, o.display_order, om.user_id AS owner_user_id
		FROM poll_options o LEFT JOIN circle_members om ON om.id = o.member_id
		WHERE o.poll_id = ? ORDER BY o.display_order`, pollID).Scan(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]circly.Option, len(rows))
	for i, r := range rows {
		out[i] = circly.Option{ID: r.ID, MemberID: r.MemberID, MemberNickname: r.MemberNickname, DisplayOrder: r.DisplayOrder,
			VoteCount: countAt(released, r.DisplayOrder), IsSelf: r.OwnerUserID != nil && *r.OwnerUserID == viewerUserID}
	}
	return out, nil
}

// ListPolls returns the polls of the user's circles, newest first, without options.
func (s *Store) ListPolls(ctx context.Context, userID string, f circly.PollFilter, page circly.Page) ([]circly.Poll, int64, error) {
	db := s.conn(ctx)
	if f.CircleID != "" {
		if _, err := s.circleFor(db, f.CircleID, userID); err != nil {
			return nil, 0, err
		}
	}
	where := ` WHERE m.id IS NOT NULL AND ` + visiblePoll
	args := []any{userID, userID}
	if f.CircleID != "" {
		where += ` AND p.circle_id = ?`
		args = append(args, f.CircleID)
	}
	switch f.Status {
	case "active":
		where += ` AND p.closed_at IS NULL`
	case "closed":
		where += ` AND p.closed_at IS NOT NULL`
	}
	var total int64
	if err := db.Raw(`SELECT count(*) FROM (`+pollSelect+where+`) sub`, args...).Scan(&total).Error; err != nil {
		return nil, 0, err
	}
	var rows []pollRow
	if err := db.Raw(pollSelect+where+` ORDER BY p.created_at DESC, p.id LIMIT ? OFFSET ?`,
		append(args, page.Limit, page.Offset)...).Scan(&rows).Error; err != nil {
		return nil, 0, err
	}
	out := make([]circly.Poll, len(rows))
	for i, r := range rows {
		out[i] = r.view()
	}
	return out, total, nil
}

// DuePollsOf lists the polls of the user's circles that are past their deadline but not closed
// yet, for the app to close before it lists the user's polls.
func (s *Store) DuePollsOf(ctx context.Context, userID string) ([]string, error) {
	ids := []string{}
	err := s.conn(ctx).Raw(`SELECT p.id FROM polls p JOIN circle_members m ON m.circle_id = p.circle_id
		WHERE m.user_id = ? AND m.left_at IS NULL AND p.closed_at IS NULL AND p.deadline <= ?`, userID, s.Now()).
		Scan(&ids).Error
	return ids, err
}

// ownPoll is a poll row locked for a change by its creator.
type ownPoll struct {
	ID              string
	CircleID        string
	CreatorMemberID string
	CreatedAt       time.Time
	Deadline        time.Time
	ClosedAt        *time.Time
}

// lockedOwnPoll locks a poll row and checks the user created it.
func (s *Store) lockedOwnPoll(tx *gorm.DB, userID, pollID string) (ownPoll, error) {
	var p ownPoll
	lock := ""
	if s.dialect == Postgres {
		lock = " FOR UPDATE OF p"
	}
	err := tx.Raw(`SELECT p.id, p.circle_id, p.creator_member_id, p.created_at, p.deadline, p.closed_at
		FROM polls p JOIN circles c ON c.id = p.circle_id AND c.deleted_at IS NULL WHERE p.id = ? AND `+visiblePoll+lock, pollID).Take(&p).Error
	if err != nil {
		return p, notFound(err, circly.ErrPollNotFound)
	}
	var mine []string
	if err := tx.Raw(`SELECT id FROM circle_members WHERE circle_id = ? AND user_id = ? AND left_at IS NULL`,
		p.CircleID, userID).Scan(&mine).Error; err != nil {
		return p, err
	}
	switch {
	case len(mine) == 0:
		return p, circly.ErrNotCircleMember
	case mine[0] != p.CreatorMemberID:
		return p, circly.ErrNotPollCreator
	}
	return p, nil
}

// UpdatePollDeadline moves a poll's deadline while nobody has voted yet (creator only).
func (s *Store) UpdatePollDeadline(ctx context.Context, userID, pollID string, deadline time.Time) (circly.Poll, error) {
	err := s.tx(ctx, func(tx *gorm.DB) error {
		r, err := s.lockedOwnPoll(tx, userID, pollID)
		if err != nil {
			return err
		}
		now := s.Now()
		if r.ClosedAt != nil || !r.Deadline.After(now) {
			return circly.ErrPollClosed
		}
		// Read after the lock, in a statement of its own: a vote holds the row FOR SHARE until
		// it commits, and only a new statement's snapshot sees its participant row.
		var votes int64
		if err := tx.Raw(`SELECT count(*) FROM poll_participants WHERE poll_id = ?`, pollID).Scan(&votes).Error; err != nil {
			return err
		}
		if votes > 0 {
			return circly.ErrPollHasVotes
		}
		if err := s.checkDeadline(deadline, now); err != nil {
			return err
		}
		return tx.Exec(`UPDATE polls SET deadline = ? WHERE id = ?`, deadline.UTC().Truncate(time.Microsecond), pollID).Error
	})
	if err != nil {
		return circly.Poll{}, err
	}
	return s.GetPoll(ctx, userID, pollID)
}

// DeletePoll removes a poll within a day of its creation (creator only) and returns its
// circle's id.
func (s *Store) DeletePoll(ctx context.Context, userID, pollID string) (circleID string, err error) {
	err = s.tx(ctx, func(tx *gorm.DB) error {
		r, err := s.lockedOwnPoll(tx, userID, pollID)
		if err != nil {
			return err
		}
		if s.Now().Sub(r.CreatedAt) > circly.PollDeleteWindow {
			return circly.Errorf(circly.CodeForbidden, "a poll can only be deleted within 24 hours of its creation")
		}
		circleID = r.CircleID
		return tx.Exec(`DELETE FROM polls WHERE id = ?`, pollID).Error
	})
	if err != nil {
		return "", err
	}
	return circleID, nil
}
