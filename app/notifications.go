package app

import (
	"context"
	"time"

	"circly"
)

// NotificationDataJSON links a notification to its poll (none for a moderation notice).
type NotificationDataJSON struct {
	PollID   string `json:"poll_id,omitempty"`
	CircleID string `json:"circle_id"`
}

// NotificationJSON is a notification as GET /v1/notifications and the user: channel show it.
type NotificationJSON struct {
	ID        string               `json:"id"`
	Type      string               `json:"type"`
	Title     string               `json:"title"`
	Message   string               `json:"message"`
	Data      NotificationDataJSON `json:"data"`
	IsRead    bool                 `json:"is_read"`
	CreatedAt string               `json:"created_at"`
}

// NotificationView converts a store notification to its API shape.
func NotificationView(n circly.Notification) NotificationJSON {
	return NotificationJSON{ID: n.ID, Type: n.Type, Title: n.Title, Message: n.Message,
		Data: NotificationDataJSON{PollID: n.PollID, CircleID: n.CircleID}, IsRead: n.IsRead,
		CreatedAt: n.CreatedAt.UTC().Format(time.RFC3339)}
}

// announceNotifications tells each recipient's live connections about a new notification. The
// rows (and their pushes) are already committed; a lost message is recovered by the unread
// count of the user: snapshot and the list endpoint.
func (s *Service) announceNotifications(ctx context.Context, notes []circly.Notification) {
	for _, n := range notes {
		s.publish(ctx, NotificationMessage(n.UserID, NotificationView(n)))
	}
}

// SendReminder decides one deadline reminder of a poll (at most once per poll, whoever calls)
// and announces the poll_deadline notifications it wrote. It returns how many it wrote.
func (s *Service) SendReminder(ctx context.Context, pollID string, minutes int) (int, error) {
	r, err := s.Store.SendReminder(ctx, pollID, minutes)
	if err != nil {
		return 0, err
	}
	s.announceNotifications(ctx, r.Notifications)
	return len(r.Notifications), nil
}
