package sqlstore

import (
	"context"
	"errors"
	"time"

	"circly"

	"gorm.io/gorm"
)

type pushJobRow struct {
	circly.PushJob
	TokenRaw            *string
	TokenActive         *bool
	PollStartEnabled    *bool
	PollDeadlineEnabled *bool
	PollResultEnabled   *bool
	QuietHoursEnabled   *bool
	QuietStartHour      *int
	QuietEndHour        *int
	MaxPerDay           *int
}

// ClaimPushes takes up to limit due pushes for this dispatcher for the lease: pending ones whose
// time has come, and ones a dispatcher claimed but never finished (it crashed; the push is sent
// again, so delivery is at least once). Concurrent dispatchers take disjoint rows.
func (s *Store) ClaimPushes(ctx context.Context, limit int, lease time.Duration) ([]circly.PushJob, error) {
	var ids []string
	err := s.tx(ctx, func(tx *gorm.DB) error {
		now := s.Now()
		lock := ""
		if s.dialect == Postgres {
			lock = " FOR UPDATE SKIP LOCKED"
		}
		if err := tx.Raw(`SELECT notification_id FROM push_outbox
			WHERE (status = ? AND next_attempt_at <= ?) OR (status = ? AND claimed_until <= ?)
			ORDER BY next_attempt_at LIMIT ?`+lock, circly.PushPending, now, circly.PushSending, now, limit).Scan(&ids).Error; err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		return tx.Exec(`UPDATE push_outbox SET status = ?, claimed_until = ? WHERE notification_id IN ?`,
			circly.PushSending, now.Add(lease), ids).Error
	})
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	var rows []pushJobRow
	if err := s.conn(ctx).Raw(`SELECT o.notification_id, o.user_id, n.type, n.title, n.message, n.poll_id, n.circle_id,
			o.attempts, o.counted_day, u.timezone, c.deleted_at IS NOT NULL AS circle_deleted,
			(p.closed_at IS NOT NULL OR p.deadline <= ?) AS poll_over, p.hidden_at IS NOT NULL AS poll_hidden,
			t.token AS token_raw, t.active AS token_active,
			ns.poll_start_enabled, ns.poll_deadline_enabled, ns.poll_result_enabled, ns.quiet_hours_enabled,
			ns.quiet_start_hour, ns.quiet_end_hour, ns.max_notifications_per_day AS max_per_day
		FROM push_outbox o
		JOIN notifications n ON n.id = o.notification_id
		JOIN users u ON u.id = o.user_id
		JOIN circles c ON c.id = n.circle_id
		JOIN polls p ON p.id = n.poll_id
		LEFT JOIN push_tokens t ON t.user_id = o.user_id
		LEFT JOIN notification_settings ns ON ns.user_id = o.user_id
		WHERE o.notification_id IN ? ORDER BY o.next_attempt_at, o.notification_id`, s.Now(), ids).Scan(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]circly.PushJob, len(rows))
	for i, r := range rows {
		j := r.PushJob
		if r.TokenRaw != nil && r.TokenActive != nil && *r.TokenActive {
			j.Token = *r.TokenRaw
		}
		j.Settings = circly.DefaultNotificationSettings()
		if r.PollStartEnabled != nil { // the user has a settings row
			j.Settings = circly.NotificationSettings{PollStartEnabled: *r.PollStartEnabled, PollDeadlineEnabled: *r.PollDeadlineEnabled,
				PollResultEnabled: *r.PollResultEnabled, QuietHoursEnabled: *r.QuietHoursEnabled,
				QuietStartHour: *r.QuietStartHour, QuietEndHour: *r.QuietEndHour, MaxNotificationsPerDay: *r.MaxPerDay}
		}
		out[i] = j
	}
	return out, nil
}

// SettlePush ends a claimed push without sending it (skipped, dropped or failed, with the reason).
func (s *Store) SettlePush(ctx context.Context, notificationID, status, reason string) error {
	return s.conn(ctx).Exec(`UPDATE push_outbox SET status = ?, last_error = ?, claimed_until = NULL
		WHERE notification_id = ? AND status = ?`, status, truncate(reason, 200), notificationID, circly.PushSending).Error
}

// HoldPush puts a claimed push back until a later time (quiet hours), not counting an attempt.
func (s *Store) HoldPush(ctx context.Context, notificationID string, until time.Time) error {
	return s.conn(ctx).Exec(`UPDATE push_outbox SET status = ?, next_attempt_at = ?, claimed_until = NULL
		WHERE notification_id = ? AND status = ?`, circly.PushPending, until.UTC(), notificationID, circly.PushSending).Error
}

// RetryPush puts a claimed push back after a failed attempt, to be tried again at `at`.
func (s *Store) RetryPush(ctx context.Context, notificationID string, at time.Time, reason string) error {
	return s.conn(ctx).Exec(`UPDATE push_outbox SET status = ?, attempts = attempts + 1, next_attempt_at = ?,
		claimed_until = NULL, last_error = ? WHERE notification_id = ? AND status = ?`,
		circly.PushPending, at.UTC(), truncate(reason, 200), notificationID, circly.PushSending).Error
}

// FailPush gives up on a claimed push after an attempt, recording why.
func (s *Store) FailPush(ctx context.Context, notificationID, reason string) error {
	return s.conn(ctx).Exec(`UPDATE push_outbox SET status = ?, attempts = attempts + 1, claimed_until = NULL, last_error = ?
		WHERE notification_id = ? AND status = ?`, circly.PushFailed, truncate(reason, 200), notificationID, circly.PushSending).Error
}

// MarkPushSent records that the push service accepted a push, with its ticket for the receipt.
func (s *Store) MarkPushSent(ctx context.Context, notificationID, token, ticketID string) error {
	return s.conn(ctx).Exec(`UPDATE push_outbox SET status = ?, attempts = attempts + 1, claimed_until = NULL, sent_at = ?,
		token = ?, ticket_id = ?, last_error = NULL WHERE notification_id = ? AND status = ?`,
		circly.PushSent, s.Now(), token, ticketID, notificationID, circly.PushSending).Error
}

// CountPush takes one of the user's pushes for local day `day` (YYYY-MM-DD) against the daily
// cap and reports whether it fits. A push already counted for that day (a retry) fits again
// without counting twice. The conditional upsert keeps the cap exact across dispatchers.
func (s *Store) CountPush(ctx context.Context, notificationID, userID, day string, maxPerDay int) (bool, error) {
	fits := false
	err := s.tx(ctx, func(tx *gorm.DB) error {
		var counted *string
		if err := tx.Raw(`SELECT counted_day FROM push_outbox WHERE notification_id = ?`, notificationID).Row().Scan(&counted); err != nil {
			return err
		}
		if counted != nil && *counted == day {
			fits = true
			return nil
		}
		if maxPerDay <= 0 {
			return nil
		}
		var n []int
		if err := tx.Raw(`INSERT INTO push_day_counts (user_id, day, count) VALUES (?, ?, 1)
			ON CONFLICT (user_id, day) DO UPDATE SET count = push_day_counts.count + 1 WHERE push_day_counts.count < ?
			RETURNING count`, userID, day, maxPerDay).Scan(&n).Error; err != nil {
			return err
		}
		if len(n) == 0 {
			return nil
		}
		fits = true
		return tx.Exec(`UPDATE push_outbox SET counted_day = ? WHERE notification_id = ?`, day, notificationID).Error
	})
	return fits, err
}

// DeactivatePushToken switches a user's push token off when the push service says the device
// is gone, unless the user has registered another token since.
func (s *Store) DeactivatePushToken(ctx context.Context, userID, token string) (bool, error) {
	res := s.conn(ctx).Exec(`UPDATE push_tokens SET active = false, updated_at = ? WHERE user_id = ? AND token = ? AND active = true`,
		s.Now(), userID, token)
	return res.RowsAffected == 1, res.Error
}

// PushesAwaitingReceipt lists sent pushes older than sentBefore whose receipt is unchecked.
func (s *Store) PushesAwaitingReceipt(ctx context.Context, sentBefore time.Time, limit int) ([]circly.SentPush, error) {
	out := []circly.SentPush{}
	err := s.conn(ctx).Raw(`SELECT notification_id, user_id, token, ticket_id, sent_at FROM push_outbox
		WHERE status = ? AND receipt_checked_at IS NULL AND ticket_id IS NOT NULL AND sent_at <= ?
		ORDER BY sent_at LIMIT ?`, circly.PushSent, sentBefore.UTC(), limit).Scan(&out).Error
	return out, err
}

// RecordPushReceipt stores the outcome of a push's receipt ("ok", "error" or "unknown" when the
// service no longer has it); errCode is the service's error, if any.
func (s *Store) RecordPushReceipt(ctx context.Context, notificationID, status, errCode string) error {
	var reason *string
	if errCode != "" {
		r := truncate("receipt: "+errCode, 200)
		reason = &r
	}
	return s.conn(ctx).Exec(`UPDATE push_outbox SET receipt_status = ?, receipt_checked_at = ?, last_error = COALESCE(?, last_error)
		WHERE notification_id = ?`, status, s.Now(), reason, notificationID).Error
}

// PushRecords lists the push_outbox rows of a user, oldest first.
func (s *Store) PushRecords(ctx context.Context, userID string) ([]circly.PushRecord, error) {
	out := []circly.PushRecord{}
	err := s.conn(ctx).Raw(`SELECT notification_id, user_id, status, attempts, next_attempt_at, last_error, ticket_id,
		receipt_status, sent_at FROM push_outbox WHERE user_id = ? ORDER BY created_at, notification_id`, userID).Scan(&out).Error
	return out, err
}

// PushToken returns a user's push token and whether it is active.
func (s *Store) PushToken(ctx context.Context, userID string) (token string, active bool, err error) {
	var row struct {
		Token  string
		Active bool
	}
	err = s.conn(ctx).Raw(`SELECT token, active FROM push_tokens WHERE user_id = ?`, userID).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return "", false, nil
	}
	return row.Token, row.Active, err
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && (s[n]&0xC0) == 0x80 {
		n--
	}
	return s[:n]
}
