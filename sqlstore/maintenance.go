package sqlstore

import (
	"context"
	"time"
)

// Queries of the housekeeping and gauges jobs. Each delete is bounded so a large backlog is
// worked off over several runs instead of one long transaction.

// DeleteExpiredRefreshTokens removes up to limit refresh tokens that expired before `before`.
// The caller keeps a grace period so that a recently expired token still answers TOKEN_EXPIRED
// (telling the app to log in again) rather than INVALID_TOKEN.
func (s *Store) DeleteExpiredRefreshTokens(ctx context.Context, before time.Time, limit int) (int64, error) {
	res := s.conn(ctx).Exec(`DELETE FROM refresh_tokens WHERE id IN
		(SELECT id FROM refresh_tokens WHERE expires_at < ? LIMIT ?)`, before.UTC(), limit)
	return res.RowsAffected, res.Error
}

// DeleteExpiredIdempotencyKeys removes vote Idempotency-Key records past their lifetime.
func (s *Store) DeleteExpiredIdempotencyKeys(ctx context.Context) (int64, error) {
	res := s.conn(ctx).Exec(`DELETE FROM vote_idempotency WHERE expires_at <= ?`, s.Now())
	return res.RowsAffected, res.Error
}

// DeleteReadNotifications removes up to limit read notifications created before `before`
// (their pushes go with them).
func (s *Store) DeleteReadNotifications(ctx context.Context, before time.Time, limit int) (int64, error) {
	res := s.conn(ctx).Exec(`DELETE FROM notifications WHERE id IN
		(SELECT id FROM notifications WHERE is_read = true AND created_at < ? LIMIT ?)`, before.UTC(), limit)
	return res.RowsAffected, res.Error
}

// FreeExpiredInviteCodes clears the invite codes that expired before `before`. A circle keeps
// one current code; the six-character code space is what is scarce, so an expired code is
// released for reuse by another circle after a grace period (during which it still answers 410
// INVITE_EXPIRED; after it, 404 INVITE_NOT_FOUND). The invite link id and its expiry stay, so an
// old link keeps answering 410. The creator gets a new code with regenerate-invite.
func (s *Store) FreeExpiredInviteCodes(ctx context.Context, before time.Time) (int64, error) {
	res := s.conn(ctx).Exec(`UPDATE circles SET invite_code = NULL WHERE invite_code IS NOT NULL AND invite_expires_at < ?`,
		before.UTC())
	return res.RowsAffected, res.Error
}

// DeletePushDayCounts removes daily push counters of days before `day` (YYYY-MM-DD).
func (s *Store) DeletePushDayCounts(ctx context.Context, day string) (int64, error) {
	res := s.conn(ctx).Exec(`DELETE FROM push_day_counts WHERE day < ?`, day)
	return res.RowsAffected, res.Error
}

// CountOpenPolls is the number of polls still open (deadline not yet passed).
func (s *Store) CountOpenPolls(ctx context.Context) (int64, error) {
	var n int64
	err := s.conn(ctx).Raw(`SELECT count(*) FROM polls p JOIN circles c ON c.id = p.circle_id AND c.deleted_at IS NULL
		WHERE p.closed_at IS NULL AND p.deadline > ?`, s.Now()).Scan(&n).Error
	return n, err
}

// CountActiveUsers is the number of users active since `since`.
func (s *Store) CountActiveUsers(ctx context.Context, since time.Time) (int64, error) {
	var n int64
	err := s.conn(ctx).Raw(`SELECT count(*) FROM users WHERE last_active_at >= ?`, since.UTC()).Scan(&n).Error
	return n, err
}
