package circly

import "time"

// Notification is one in-app notification of a user.
type Notification struct {
	ID        string
	UserID    string
	Type      string
	Title     string
	Message   string
	PollID    string
	CircleID  string
	IsRead    bool
	CreatedAt time.Time
}

// ErrNotificationNotFound answers a notification that does not exist or belongs to someone else.
var ErrNotificationNotFound = Errorf(CodeNotFound, "notification not found")

// NotificationList is one page of a user's notifications.
type NotificationList struct {
	Notifications []Notification
	Total         int64 // matching the filter
	Unread        int64 // all unread, whatever the filter
}

// NotificationSettings say which pushes a user wants and when.
type NotificationSettings struct {
	PollStartEnabled       bool
	PollDeadlineEnabled    bool
	PollResultEnabled      bool
	QuietHoursEnabled      bool
	QuietStartHour         int
	QuietEndHour           int
	MaxNotificationsPerDay int
}

// DefaultNotificationSettings apply to a user who never changed theirs.
func DefaultNotificationSettings() NotificationSettings {
	return NotificationSettings{PollStartEnabled: true, PollDeadlineEnabled: true, PollResultEnabled: true,
		QuietStartHour: 22, QuietEndHour: 8, MaxNotificationsPerDay: 20}
}

// MaxNotificationsPerDayLimit bounds max_notifications_per_day.
const MaxNotificationsPerDayLimit = 100

// PushEnabled tells whether the user wants pushes of a notification type. `picked` is a result
// of the poll, so it follows poll_result_enabled.
func (ns NotificationSettings) PushEnabled(notificationType string) bool {
	switch notificationType {
	case NotifyPollStart:
		return ns.PollStartEnabled
	case NotifyPollDeadline:
		return ns.PollDeadlineEnabled
	case NotifyPollResult, NotifyPicked:
		return ns.PollResultEnabled
	}
	return true
}

// SettingsUpdate holds the fields PUT /v1/notifications/settings may change; nil = unchanged.
type SettingsUpdate struct {
	PollStartEnabled       *bool
	PollDeadlineEnabled    *bool
	PollResultEnabled      *bool
	QuietHoursEnabled      *bool
	QuietStartHour         *int
	QuietEndHour           *int
	MaxNotificationsPerDay *int
}

// Validate checks the settings against the contract's bounds; the error names the field.
func (ns NotificationSettings) Validate() error {
	field := func(name, format string, args ...any) error {
		return Errorf(CodeValidation, format, args...).WithDetails(map[string]any{"field": name})
	}
	switch {
	case ns.QuietStartHour < 0 || ns.QuietStartHour > 23:
		return field("quiet_start_hour", "quiet_start_hour must be from 0 to 23")
	case ns.QuietEndHour < 0 || ns.QuietEndHour > 23:
		return field("quiet_end_hour", "quiet_end_hour must be from 0 to 23")
	case ns.MaxNotificationsPerDay < 0 || ns.MaxNotificationsPerDay > MaxNotificationsPerDayLimit:
		return field("max_notifications_per_day", "max_notifications_per_day must be from 0 to %d", MaxNotificationsPerDayLimit)
	case ns.QuietHoursEnabled && ns.QuietStartHour == ns.QuietEndHour:
		return field("quiet_end_hour", "quiet hours must end at another hour than they start")
	}
	return nil
}

// Notification types of the contract.
const (
	NotifyPollStart    = "poll_start"
	NotifyPollDeadline = "poll_deadline"
	NotifyPollResult   = "poll_result"
	NotifyPicked       = "picked"
)

// NotificationFilter values for ListNotifications.
const (
	NotificationsAll    = "all"
	NotificationsUnread = "unread"
	NotificationsRead   = "read"
)
