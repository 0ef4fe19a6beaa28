package jobs

import (
	"context"
	"time"

	"circly"
	"circly/sqlstore"
)

// App is what the jobs ask of the layer below them (app.Service implements it): the use cases
// that announce what they change, and the bookkeeping that passes through to the store.
type App interface {
	Now() time.Time

	// polls and ballots
	DuePolls(ctx context.Context, limit int) ([]string, error)
	ClosePoll(ctx context.Context, pollID string) (closed bool, notifications int, err error)
	DueBoxes(ctx context.Context, limit int) ([]string, error)
	OpenBallots(ctx context.Context, pollID string) (released bool, err error)
	DueReminders(ctx context.Context, minutes, limit int) ([]string, error)
	SendReminder(ctx context.Context, pollID string, minutes int) (int, error)
	FoldTemplateUses(ctx context.Context) (int64, error)

	// push outbox
	ClaimPushes(ctx context.Context, limit int, lease time.Duration) ([]circly.PushJob, error)
	CountPush(ctx context.Context, notificationID, userID, day string, maxPerDay int) (bool, error)
	HoldPush(ctx context.Context, notificationID string, until time.Time) error
	MarkPushSent(ctx context.Context, notificationID, token, ticketID string) error
	RetryPush(ctx context.Context, notificationID string, at time.Time, reason string) error
	FailPush(ctx context.Context, notificationID, reason string) error
	SettlePush(ctx context.Context, notificationID, status, reason string) error
	PushesAwaitingReceipt(ctx context.Context, sentBefore time.Time, limit int) ([]circly.SentPush, error)
	RecordPushReceipt(ctx context.Context, notificationID, status, errCode string) error
	DeactivatePushToken(ctx context.Context, userID, token string) (bool, error)

	// gauges and clean-up
	CountOpenPolls(ctx context.Context) (int64, error)
	CountActiveUsers(ctx context.Context, since time.Time) (int64, error)
	LastBackup(ctx context.Context) (sqlstore.BackupRun, bool, error)
	DeleteExpiredIdempotencyKeys(ctx context.Context) (int64, error)
	DeleteExpiredRefreshTokens(ctx context.Context, before time.Time, limit int) (int64, error)
	DeleteReadNotifications(ctx context.Context, before time.Time, limit int) (int64, error)
	DeletePushDayCounts(ctx context.Context, day string) (int64, error)
	FreeExpiredInviteCodes(ctx context.Context, before time.Time) (int64, error)
}
