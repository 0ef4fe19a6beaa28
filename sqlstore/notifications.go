package sqlstore

import (
	"context"
	"errors"

	"circly"

	"gorm.io/gorm"
)

const notificationColumns = `id, user_id, type, title, message, poll_id, circle_id, is_read, created_at`

// visibleNote keeps out the notifications that point at a poll hidden by reports: members see
// the poll nowhere, so no notification leads to it. They come back if a moderator restores it.
const visibleNote = ` AND NOT EXISTS (SELECT 1 FROM polls p WHERE p.id = notifications.poll_id AND p.hidden_at IS NOT NULL)`

// ListNotifications returns a user's notifications, newest first.
func (s *Store) ListNotifications(ctx context.Context, userID, status string, page circly.Page) (circly.NotificationList, error) {
	db := s.conn(ctx)
	where := `user_id = ?` + visibleNote
	switch status {
	case circly.NotificationsUnread:
		where += ` AND is_read = false`
	case circly.NotificationsRead:
		where += ` AND is_read = true`
	}
	out := circly.NotificationList{Notifications: []circly.Notification{}}
	if err := db.Raw(`SELECT count(*) FROM notifications WHERE `+where, userID).Scan(&out.Total).Error; err != nil {
		return out, err
	}
	if err := db.Raw(`SELECT count(*) FROM notifications WHERE user_id = ? AND is_read = false`+visibleNote, userID).
		Scan(&out.Unread).Error; err != nil {
		return out, err
	}
	err := db.Raw(`SELECT `+notificationColumns+` FROM notifications WHERE `+where+
		` ORDER BY created_at DESC, id LIMIT ? OFFSET ?`, userID, page.Limit, page.Offset).Scan(&out.Notifications).Error
	return out, err
}

// UnreadNotificationCount is the number of the user's unread notifications.
func (s *Store) UnreadNotificationCount(ctx context.Context, userID string) (int, error) {
	var n int64
	err := s.conn(ctx).Raw(`SELECT count(*) FROM notifications WHERE user_id = ? AND is_read = false`+visibleNote, userID).Scan(&n).Error
	return int(n), err
}

// MarkNotificationRead marks one of the user's notifications read (again is fine) and returns it.
func (s *Store) MarkNotificationRead(ctx context.Context, userID, id string) (circly.Notification, error) {
	db := s.conn(ctx)
	if err := db.Exec(`UPDATE notifications SET is_read = true, read_at = ? WHERE id = ? AND user_id = ? AND is_read = false`+
		visibleNote, s.Now(), id, userID).Error; err != nil {
		return circly.Notification{}, err
	}
	var n circly.Notification
	err := db.Raw(`SELECT `+notificationColumns+` FROM notifications WHERE id = ? AND user_id = ?`+visibleNote, id, userID).Take(&n).Error
	return n, notFound(err, circly.ErrNotificationNotFound)
}

// MarkAllNotificationsRead marks every unread notification of the user read and says how many.
func (s *Store) MarkAllNotificationsRead(ctx context.Context, userID string) (int64, error) {
	res := s.conn(ctx).Exec(`UPDATE notifications SET is_read = true, read_at = ? WHERE user_id = ? AND is_read = false`,
		s.Now(), userID)
	return res.RowsAffected, res.Error
}

const settingsColumns = `poll_start_enabled, poll_deadline_enabled, poll_result_enabled, quiet_hours_enabled,
	quiet_start_hour, quiet_end_hour, max_notifications_per_day`

// GetNotificationSettings returns the user's settings (the defaults when never changed).
func (s *Store) GetNotificationSettings(ctx context.Context, userID string) (circly.NotificationSettings, error) {
	return s.settings(s.conn(ctx), userID, false)
}

func (s *Store) settings(db *gorm.DB, userID string, lock bool) (circly.NotificationSettings, error) {
	var ns circly.NotificationSettings
	q := `SELECT ` + settingsColumns + ` FROM notification_settings WHERE user_id = ?`
	if lock {
		q += s.forUpdate()
	}
	err := db.Raw(q, userID).Take(&ns).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return circly.DefaultNotificationSettings(), nil
	}
	return ns, err
}

// UpdateNotificationSettings changes some of the user's settings and returns them all.
func (s *Store) UpdateNotificationSettings(ctx context.Context, userID string, up circly.SettingsUpdate) (circly.NotificationSettings, error) {
	var ns circly.NotificationSettings
	err := s.tx(ctx, func(tx *gorm.DB) error {
		var err error
		if ns, err = s.settings(tx, userID, true); err != nil {
			return err
		}
		setBool := func(dst *bool, v *bool) {
			if v != nil {
				*dst = *v
			}
		}
		setInt := func(dst *int, v *int) {
			if v != nil {
				*dst = *v
			}
		}
		setBool(&ns.PollStartEnabled, up.PollStartEnabled)
		setBool(&ns.PollDeadlineEnabled, up.PollDeadlineEnabled)
		setBool(&ns.PollResultEnabled, up.PollResultEnabled)
		setBool(&ns.QuietHoursEnabled, up.QuietHoursEnabled)
		setInt(&ns.QuietStartHour, up.QuietStartHour)
		setInt(&ns.QuietEndHour, up.QuietEndHour)
		setInt(&ns.MaxNotificationsPerDay, up.MaxNotificationsPerDay)
		if err := ns.Validate(); err != nil {
			return err
		}
		err = tx.Exec(`INSERT INTO notification_settings (user_id, `+settingsColumns+`, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (user_id) DO UPDATE SET poll_start_enabled = excluded.poll_start_enabled,
				poll_deadline_enabled = excluded.poll_deadline_enabled, poll_result_enabled = excluded.poll_result_enabled,
				quiet_hours_enabled = excluded.quiet_hours_enabled, quiet_start_hour = excluded.quiet_start_hour,
				quiet_end_hour = excluded.quiet_end_hour, max_notifications_per_day = excluded.max_notifications_per_day,
				updated_at = excluded.updated_at`,
			userID, ns.PollStartEnabled, ns.PollDeadlineEnabled, ns.PollResultEnabled, ns.QuietHoursEnabled,
			ns.QuietStartHour, ns.QuietEndHour, ns.MaxNotificationsPerDay, s.Now()).Error
		if isConstraintError(err) {
			return circly.ErrUnauthorized // the user row is gone
		}
		return err
	})
	return ns, err
}
