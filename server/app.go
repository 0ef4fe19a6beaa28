package server

import (
	"context"
	"time"

	"circly/models"
)

// App is what the handlers ask of the layer below them (app.Service implements it): the use
// cases that publish live messages, and reads and changes that pass through to the store. A
// handler test can put a fake in its place.
type App interface {
	Now() time.Time

	// auth and users
	DeviceLogin(ctx context.Context, deviceID, platform string, appVersion *string) (models.User, error)
	IssueRefreshToken(ctx context.Context, userID string) (models.RefreshToken, error)
	RotateRefreshToken(ctx context.Context, raw string) (models.RefreshToken, error)
	GetUser(ctx context.Context, id string) (models.User, error)
	UpdateUser(ctx context.Context, id string, up models.UserUpdate) (models.User, error)
	DeleteAccount(ctx context.Context, userID string) error
	UserStats(ctx context.Context, userID string) (models.UserStats, error)
	activity

	// circles
	CreateCircle(ctx context.Context, userID, name string, maxMembers int, nickname string) (models.Circle, error)
	ListCircles(ctx context.Context, userID string, page models.Page) ([]models.Circle, int64, error)
	GetCircle(ctx context.Context, userID, circleID string) (models.CircleDetail, error)
	UpdateCircle(ctx context.Context, userID, circleID string, up models.CircleUpdate) (models.Circle, error)
	DeleteCircle(ctx context.Context, userID, circleID string) ([]string, error)
	JoinCircle(ctx context.Context, userID string, req models.JoinRequest) (models.Circle, models.Member, error)
	LeaveCircle(ctx context.Context, userID, circleID string) (models.Member, error)
	RemoveMember(ctx context.Context, userID, circleID, memberID string) (models.Member, error)
	RegenerateInvite(ctx context.Context, userID, circleID string) (models.Circle, error)
	CircleStats(ctx context.Context, userID, circleID string) (models.CircleStats, error)

	// templates, polls and votes
	ListTemplates(ctx context.Context, category string, page models.Page) ([]models.Template, int64, error)
	GetTemplate(ctx context.Context, id string) (models.Template, error)
	CreatePoll(ctx context.Context, userID string, req models.CreatePollRequest) (models.Poll, error)
	ListPolls(ctx context.Context, userID string, f models.PollFilter, page models.Page) ([]models.Poll, int64, error)
	GetPoll(ctx context.Context, userID, pollID string) (models.Poll, error)
	UpdatePollDeadline(ctx context.Context, userID, pollID string, deadline time.Time) (models.Poll, error)
	DeletePoll(ctx context.Context, userID, pollID string) error
	Vote(ctx context.Context, userID string, req models.VoteRequest) (models.VoteResult, error)
	GetResults(ctx context.Context, userID, pollID string) (models.Results, error)

	// notifications, reports and uploads
	ListNotifications(ctx context.Context, userID, status string, page models.Page) (models.NotificationList, error)
	MarkNotificationRead(ctx context.Context, userID, id string) (models.Notification, error)
	MarkAllNotificationsRead(ctx context.Context, userID string) (int64, error)
	GetNotificationSettings(ctx context.Context, userID string) (models.NotificationSettings, error)
	UpdateNotificationSettings(ctx context.Context, userID string, up models.SettingsUpdate) (models.NotificationSettings, error)
	CreateReport(ctx context.Context, userID string, r models.NewReport) (models.Report, error)
	ListReports(ctx context.Context, userID string, page models.Page) ([]models.Report, int64, error)
	CreateUpload(ctx context.Context, u models.Upload) (models.Upload, error)
	GetUpload(ctx context.Context, id string) (models.Upload, error)
	DeleteUploadsOf(ctx context.Context, userID string) ([]string, error)
}

// activity is what the token check and the activity writer need (activity.go).
type activity interface {
	UserExists(ctx context.Context, id string) (bool, error)
	TouchUsers(ctx context.Context, ids []string, interval time.Duration) error
}
