package server

import (
	"context"
	"time"

	"circly"
)

// App is what the handlers ask of the layer below them (app.Service implements it): the use
// cases that publish live messages, and reads and changes that pass through to the store. A
// handler test can put a fake in its place.
type App interface {
	Now() time.Time

	// auth and users
	DeviceLogin(ctx context.Context, deviceID, platform string, appVersion *string) (circly.User, error)
	IssueRefreshToken(ctx context.Context, userID string) (circly.RefreshToken, error)
	RotateRefreshToken(ctx context.Context, raw string) (circly.RefreshToken, error)
	GetUser(ctx context.Context, id string) (circly.User, error)
	UpdateUser(ctx context.Context, id string, up circly.UserUpdate) (circly.User, error)
	DeleteAccount(ctx context.Context, userID string) error
	UserStats(ctx context.Context, userID string) (circly.UserStats, error)
	activity

	// circles
	CreateCircle(ctx context.Context, userID, name string, maxMembers int, nickname string) (circly.Circle, error)
	ListCircles(ctx context.Context, userID string, page circly.Page) ([]circly.Circle, int64, error)
	GetCircle(ctx context.Context, userID, circleID string) (circly.CircleDetail, error)
	UpdateCircle(ctx context.Context, userID, circleID string, up circly.CircleUpdate) (circly.Circle, error)
	DeleteCircle(ctx context.Context, userID, circleID string) ([]string, error)
	JoinCircle(ctx context.Context, userID string, req circly.JoinRequest) (circly.Circle, circly.Member, error)
	LeaveCircle(ctx context.Context, userID, circleID string) (circly.Member, error)
	RemoveMember(ctx context.Context, userID, circleID, memberID string) (circly.Member, error)
	RegenerateInvite(ctx context.Context, userID, circleID string) (circly.Circle, error)
	CircleStats(ctx context.Context, userID, circleID string) (circly.CircleStats, error)
	InvitePreview(ctx context.Context, linkID string) (circly.InvitePreview, error) // the invite page (web)

	// templates, polls and votes
	ListTemplates(ctx context.Context, category string, page circly.Page) ([]circly.Template, int64, error)
	GetTemplate(ctx context.Context, id string) (circly.Template, error)
	CreatePoll(ctx context.Context, userID string, req circly.CreatePollRequest) (circly.Poll, error)
	ListPolls(ctx context.Context, userID string, f circly.PollFilter, page circly.Page) ([]circly.Poll, int64, error)
	GetPoll(ctx context.Context, userID, pollID string) (circly.Poll, error)
	UpdatePollDeadline(ctx context.Context, userID, pollID string, deadline time.Time) (circly.Poll, error)
	DeletePoll(ctx context.Context, userID, pollID string) error
	Vote(ctx context.Context, userID string, req circly.VoteRequest) (circly.VoteResult, error)
	GetResults(ctx context.Context, userID, pollID string) (circly.Results, error)

	// notifications, reports and uploads
	ListNotifications(ctx context.Context, userID, status string, page circly.Page) (circly.NotificationList, error)
	MarkNotificationRead(ctx context.Context, userID, id string) (circly.Notification, error)
	MarkAllNotificationsRead(ctx context.Context, userID string) (int64, error)
	GetNotificationSettings(ctx context.Context, userID string) (circly.NotificationSettings, error)
	UpdateNotificationSettings(ctx context.Context, userID string, up circly.SettingsUpdate) (circly.NotificationSettings, error)
	CreateReport(ctx context.Context, userID string, r circly.NewReport) (circly.Report, error)
	ListReports(ctx context.Context, userID string, page circly.Page) ([]circly.Report, int64, error)
	CreateUpload(ctx context.Context, u circly.Upload) (circly.Upload, error)
	GetUpload(ctx context.Context, id string) (circly.Upload, error)
	DeleteUploadsOf(ctx context.Context, userID string) ([]string, error)
}

// activity is what the token check and the activity writer need (activity.go).
type activity interface {
	UserExists(ctx context.Context, id string) (bool, error)
	TouchUsers(ctx context.Context, ids []string, interval time.Duration) error
}
