package sqlstore

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"circly"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

// Notifications are written in the transaction of the event that causes them (a poll opened,
// a reminder decided, a poll closed), together with the push outbox row of each recipient who
// has an active push token. So a crash never leaves an event without its notifications, and
// the unique (user_id, poll_id, dedupe_key) index makes every notification exist at most once,
// whichever replica or retry writes it.

// newNote is a notification about to be written.
type newNote struct {
	UserID, Type, Key, Title, Message string
}

// writeNotifications inserts notes about one poll (skipping any that exist already), queues
// their pushes and returns the notifications it wrote.
func (s *Store) writeNotifications(tx *gorm.DB, pollID, circleID string, notes []newNote, now time.Time) ([]circly.Notification, error) {
	if len(notes) == 0 {
		return nil, nil
	}
	all := make([]circly.Notification, 0, len(notes))
	var q strings.Builder
	q.WriteString(`INSERT INTO notifications (id, user_id, type, dedupe_key, title, message, poll_id, circle_id, created_at) VALUES `)
	args := make([]any, 0, len(notes)*9)
	for i, n := range notes {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?)")
		id := uuid.NewString()
		all = append(all, circly.Notification{ID: id, UserID: n.UserID, Type: n.Type, Title: n.Title, Message: n.Message,
			PollID: pollID, CircleID: circleID, CreatedAt: now})
		args = append(args, id, n.UserID, n.Type, n.Key, n.Title, n.Message, pollID, circleID, now)
	}
	q.WriteString(` ON CONFLICT (user_id, poll_id, dedupe_key) DO NOTHING RETURNING id`)
	var ids []string
	if err := tx.Raw(q.String(), args...).Scan(&ids).Error; err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, nil
	}
	if err := tx.Exec(`INSERT INTO push_outbox (notification_id, user_id, status, next_attempt_at, created_at)
		SELECT n.id, n.user_id, ?, ?, ? FROM notifications n
		JOIN push_tokens t ON t.user_id = n.user_id AND t.active = true
		WHERE n.id IN ?`, circly.PushPending, now, now, ids).Error; err != nil {
		return nil, err
	}
	written := make(map[string]bool, len(ids))
	for _, id := range ids {
		written[id] = true
	}
	out := make([]circly.Notification, 0, len(ids))
	for _, n := range all {
		if written[n.ID] {
			out = append(out, n)
		}
	}
	return out, nil
}

// pollStartNotes are the poll_start notifications of a new poll: every member but its creator.
func pollStartNotes(members []circly.Member, creatorMemberID, circleName, question string) []newNote {
	title, msg := circly.PollStartText(circleName, question)
	var notes []newNote
	for _, m := range members {
		if m.ID == creatorMemberID || m.UserID == nil {
			continue
		}
		notes = append(notes, newNote{UserID: *m.UserID, Type: circly.NotifyPollStart, Key: circly.NotifyPollStart, Title: title, Message: msg})
	}
	return notes
}

// CloseAndNotify closes a poll, releases its exact final tally and writes its poll_result and
// picked notifications, all in one transaction. Only the first caller, on any replica, closes it.
func (s *Store) CloseAndNotify(ctx context.Context, pollID string) (circly.PollClose, error) {
	var out circly.PollClose
	err := s.tx(ctx, func(tx *gorm.DB) error {
		var err error
		out, err = s.closeAndNotifyTx(tx, pollID, s.Now())
		return err
	})
	if err != nil {
		return circly.PollClose{}, err
	}
	return out, nil
}

func (s *Store) closeAndNotifyTx(tx *gorm.DB, pollID string, now time.Time) (circly.PollClose, error) {
	closed, err := s.closePollTx(tx, pollID, now)
	if err != nil || !closed {
		return circly.PollClose{}, err
	}
	var p struct {
		CircleID        string
		CircleName      string
		QuestionText    string
		ReleasedTotal   int
		ReleasedVersion int
		ReleasedCounts  string
		Hidden          bool
	}
	if err := tx.Raw(`SELECT p.circle_id, c.name AS circle_name, p.question_text, p.released_total, p.released_version,
		p.released_counts, p.hidden_at IS NOT NULL AS hidden FROM polls p JOIN circles c ON c.id = p.circle_id WHERE p.id = ?`,
		pollID).Take(&p).Error; err != nil {
		return circly.PollClose{}, err
	}
	counts, err := parseCounts(p.ReleasedCounts)
	if err != nil {
		return circly.PollClose{}, err
	}
	opts, err := s.options(tx, pollID, "", counts)
	if err != nil {
		return circly.PollClose{}, err
	}
	results := circly.Rank(circly.Poll{ID: pollID, CircleID: p.CircleID, QuestionText: p.QuestionText, TotalVotes: p.ReleasedTotal,
		Version: p.ReleasedVersion, IsClosed: true, Options: opts})
	if p.Hidden {
		// Closed like any other, but nobody is told: members see a hidden poll nowhere.
		return circly.PollClose{Closed: true, Hidden: true, PollID: pollID, CircleID: p.CircleID, Results: results}, nil
	}

	members, err := s.activeMembers(tx, p.CircleID)
	if err != nil {
		return circly.PollClose{}, err
	}
	title, msg := circly.PollResultText(p.CircleName, p.QuestionText)
	var notes []newNote
	for _, m := range members {
		if m.UserID != nil {
			notes = append(notes, newNote{UserID: *m.UserID, Type: circly.NotifyPollResult, Key: circly.NotifyPollResult, Title: title, Message: msg})
		}
	}
	// picked: each option's member who got votes and is still in the circle hears how many
	// times, never from whom.
	var picked []struct {
		DisplayOrder int
		UserID       string
	}
	if err := tx.Raw(`SELECT o.display_order, m.user_id FROM poll_options o
		JOIN circle_members m ON m.id = o.member_id AND m.left_at IS NULL AND m.user_id IS NOT NULL
		WHERE o.poll_id = ? ORDER BY o.display_order`, pollID).Scan(&picked).Error; err != nil {
		return circly.PollClose{}, err
	}
	for _, x := range picked {
		if n := countAt(counts, x.DisplayOrder); n > 0 {
			t, m := circly.PickedText(n, p.CircleName, p.QuestionText)
			notes = append(notes, newNote{UserID: x.UserID, Type: circly.NotifyPicked, Key: circly.NotifyPicked, Title: t, Message: m})
		}
	}
	written, err := s.writeNotifications(tx, pollID, p.CircleID, notes, now)
	if err != nil {
		return circly.PollClose{}, err
	}
	return circly.PollClose{Closed: true, PollID: pollID, CircleID: p.CircleID, Results: results, Notifications: written}, nil
}

// DueReminders lists open polls whose reminder `minutes` before the deadline is due and not yet
// decided, soonest deadline first.
func (s *Store) DueReminders(ctx context.Context, minutes, limit int) ([]string, error) {
	now := s.Now()
	ids := []string{}
	err := s.conn(ctx).Raw(`SELECT p.id FROM polls p JOIN circles c ON c.id = p.circle_id AND c.deleted_at IS NULL
		WHERE p.closed_at IS NULL AND p.deadline > ? AND p.deadline <= ? AND `+visiblePoll+`
			AND NOT EXISTS (SELECT 1 FROM poll_reminders r WHERE r.poll_id = p.id AND r.minutes = ?)
		ORDER BY p.deadline LIMIT ?`, now, now.Add(time.Duration(minutes)*time.Minute), minutes, limit).Scan(&ids).Error
	return ids, err
}

// SendReminder decides a poll's reminder `minutes` before its deadline, at most once per poll
// (the poll_reminders row is the condition), and in the same transaction writes a poll_deadline
// notification for every member who has not voted. A reminder that no longer makes sense (the
// poll is closed, the reminder's time came before the poll was opened, or a later reminder is
// already due) is recorded and sends nothing.
func (s *Store) SendReminder(ctx context.Context, pollID string, minutes int) (circly.Reminder, error) {
	out := circly.Reminder{PollID: pollID}
	err := s.tx(ctx, func(tx *gorm.DB) error {
		now := s.Now()
		var p struct {
			CircleID     string
			CircleName   string
			QuestionText string
			Deadline     time.Time
			CreatedAt    time.Time
			ClosedAt     *time.Time
			Deleted      bool
			Hidden       bool
		}
		if err := tx.Raw(`SELECT p.circle_id, c.name AS circle_name, p.question_text, p.deadline, p.created_at, p.closed_at,
			c.deleted_at IS NOT NULL AS deleted, p.hidden_at IS NOT NULL AS hidden FROM polls p JOIN circles c ON c.id = p.circle_id
			WHERE p.id = ?`, pollID).Take(&p).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return nil // deleted meanwhile
			}
			return err
		}
		if p.Hidden {
			return nil // hidden meanwhile: undecided, so a poll a moderator restores is still reminded
		}
		res := tx.Exec(`INSERT INTO poll_reminders (poll_id, minutes, created_at) VALUES (?, ?, ?)
			ON CONFLICT (poll_id, minutes) DO NOTHING`, pollID, minutes, now)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return nil
		}
		out.Decided = true
		out.CircleID = p.CircleID
		at := p.Deadline.Add(-time.Duration(minutes) * time.Minute)
		if p.ClosedAt != nil || p.Deleted || !p.Deadline.After(now) || !p.CreatedAt.Before(at) {
			return nil
		}
		for _, later := range circly.DeadlineReminders {
			if later < minutes && !now.Before(p.Deadline.Add(-time.Duration(later)*time.Minute)) {
				return nil
			}
		}
		var users []string
		if err := tx.Raw(`SELECT m.user_id FROM circle_members m
			WHERE m.circle_id = ? AND m.left_at IS NULL AND m.user_id IS NOT NULL
				AND NOT EXISTS (SELECT 1 FROM poll_participants pp WHERE pp.poll_id = ? AND pp.user_id = m.user_id)
			ORDER BY m.join_seq`, p.CircleID, pollID).Scan(&users).Error; err != nil {
			return err
		}
		title, msg := circly.PollDeadlineText(minutes, p.CircleName, p.QuestionText)
		notes := make([]newNote, len(users))
		for i, u := range users {
			notes[i] = newNote{UserID: u, Type: circly.NotifyPollDeadline, Key: reminderKey(minutes), Title: title, Message: msg}
		}
		var err error
		out.Notifications, err = s.writeNotifications(tx, pollID, p.CircleID, notes, now)
		return err
	})
	return out, err
}

func reminderKey(minutes int) string { return circly.NotifyPollDeadline + ":" + strconv.Itoa(minutes) }
