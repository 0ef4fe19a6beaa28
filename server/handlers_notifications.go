package server

import (
	"net/http"
	"slices"

	"circly"
	"circly/app"

	"github.com/gin-gonic/gin"
)

func (s *Server) listNotifications(c *gin.Context) error {
	p, err := page(c, DefaultLimit)
	if err != nil {
		return err
	}
	status := c.DefaultQuery("status", circly.NotificationsAll)
	if !slices.Contains([]string{circly.NotificationsUnread, circly.NotificationsRead, circly.NotificationsAll}, status) {
		return invalid("status", "status must be unread, read or all")
	}
	l, err := s.app.ListNotifications(c.Request.Context(), userID(c), status, p)
	if err != nil {
		return err
	}
	out := make([]app.NotificationJSON, len(l.Notifications))
	for i, n := range l.Notifications {
		out[i] = app.NotificationView(n)
	}
	body := listOf("notifications", out, l.Total, p)
	body["unread_count"] = l.Unread
	ok(c, http.StatusOK, body)
	return nil
}

func (s *Server) readNotification(c *gin.Context) error {
	id, err := uuidParam(c, "id")
	if err != nil {
		return err
	}
	n, err := s.app.MarkNotificationRead(c.Request.Context(), userID(c), id)
	if err != nil {
		return err
	}
	ok(c, http.StatusOK, app.NotificationView(n))
	return nil
}

func (s *Server) readAllNotifications(c *gin.Context) error {
	n, err := s.app.MarkAllNotificationsRead(c.Request.Context(), userID(c))
	if err != nil {
		return err
	}
	ok(c, http.StatusOK, gin.H{"updated": n, "unread_count": 0})
	return nil
}

type settingsJSON struct {
	PollStartEnabled       bool `json:"poll_start_enabled"`
	PollDeadlineEnabled    bool `json:"poll_deadline_enabled"`
	PollResultEnabled      bool `json:"poll_result_enabled"`
	QuietHoursEnabled      bool `json:"quiet_hours_enabled"`
	QuietStartHour         int  `json:"quiet_start_hour"`
	QuietEndHour           int  `json:"quiet_end_hour"`
	MaxNotificationsPerDay int  `json:"max_notifications_per_day"`
}

func settingsView(ns circly.NotificationSettings) settingsJSON {
	return settingsJSON(ns)
}

func (s *Server) getNotificationSettings(c *gin.Context) error {
	ns, err := s.app.GetNotificationSettings(c.Request.Context(), userID(c))
	if err != nil {
		return err
	}
	ok(c, http.StatusOK, settingsView(ns))
	return nil
}

type settingsRequest struct {
	PollStartEnabled       *bool `json:"poll_start_enabled"`
	PollDeadlineEnabled    *bool `json:"poll_deadline_enabled"`
	PollResultEnabled      *bool `json:"poll_result_enabled"`
	QuietHoursEnabled      *bool `json:"quiet_hours_enabled"`
	QuietStartHour         *int  `json:"quiet_start_hour"`
	QuietEndHour           *int  `json:"quiet_end_hour"`
	MaxNotificationsPerDay *int  `json:"max_notifications_per_day"`
}

func (s *Server) updateNotificationSettings(c *gin.Context) error {
	var req settingsRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	up := circly.SettingsUpdate(req)
	if up == (circly.SettingsUpdate{}) {
		return circly.Errorf(circly.CodeMissingField, "send at least one setting to change")
	}
	ns, err := s.app.UpdateNotificationSettings(c.Request.Context(), userID(c), up)
	if err != nil {
		return err
	}
	ok(c, http.StatusOK, settingsView(ns))
	return nil
}
