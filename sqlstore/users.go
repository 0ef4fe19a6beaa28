package sqlstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"time"

	"circly"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

// DeviceLogin returns the user of a device, creating it on first login.
func (s *Store) DeviceLogin(ctx context.Context, deviceID, platform string, appVersion *string) (circly.User, error) {
	now := s.Now()
	var u circly.User
	err := s.conn(ctx).Raw(`INSERT INTO users (id, device_id, platform, app_version, timezone, created_at, last_active_at)
		VALUES (?, ?, ?, ?, 'Asia/Seoul', ?, ?)
		ON CONFLICT (device_id) DO UPDATE SET platform = excluded.platform, app_version = excluded.app_version,
			last_active_at = excluded.last_active_at
		RETURNING id, device_id, platform, app_version, timezone, created_at, last_active_at`,
		uuid.NewString(), deviceID, platform, appVersion, now, now).Scan(&u).Error
	return u, err
}

// GetUser loads a user; circly.ErrUnauthorized when the account no longer exists.
func (s *Store) GetUser(ctx context.Context, id string) (circly.User, error) {
	var u circly.User
	err := s.conn(ctx).Raw(`SELECT id, device_id, platform, app_version, timezone, created_at, last_active_at
		FROM users WHERE id = ?`, id).Take(&u).Error
	return u, notFound(err, circly.ErrUnauthorized)
}

// UserExists reports whether the account exists (a token outlives a deleted account).
func (s *Store) UserExists(ctx context.Context, id string) (bool, error) {
	var n int64
	err := s.conn(ctx).Raw(`SELECT count(*) FROM users WHERE id = ?`, id).Scan(&n).Error
	return n == 1, err
}

// touchChunk bounds the ids of one UPDATE.
const touchChunk = 500

// TouchUsers records activity now for these users, skipping those recorded within interval
// (so a user's row is written at most once per interval whatever the batching).
func (s *Store) TouchUsers(ctx context.Context, ids []string, interval time.Duration) error {
	now := s.Now()
	for len(ids) > 0 {
		n := min(len(ids), touchChunk)
		if err := s.conn(ctx).Exec(`UPDATE users SET last_active_at = ? WHERE id IN ? AND last_active_at < ?`,
			now, ids[:n], now.Add(-interval)).Error; err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// UpdateUser changes the push token and timezone of a user.
func (s *Store) UpdateUser(ctx context.Context, id string, up circly.UserUpdate) (circly.User, error) {
	err := s.tx(ctx, func(tx *gorm.DB) error {
		if up.Timezone != nil {
			res := tx.Exec(`UPDATE users SET timezone = ? WHERE id = ?`, *up.Timezone, id)
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 0 {
				return circly.ErrUnauthorized
			}
		}
		if up.PushToken != nil {
			return tx.Exec(`INSERT INTO push_tokens (user_id, token, active, updated_at) VALUES (?, ?, true, ?)
				ON CONFLICT (user_id) DO UPDATE SET token = excluded.token, active = true, updated_at = excluded.updated_at`,
				id, *up.PushToken, s.Now()).Error
		}
		return nil
	})
	if err != nil {
		if isConstraintError(err) {
			return circly.User{}, circly.ErrUnauthorized
		}
		return circly.User{}, err
	}
	return s.GetUser(ctx, id)
}

// DeleteUser removes an account and returns the memberships it ended. A circle the user created
// passes to its longest-standing member, or is deleted when nobody is left. Ballots already cast
// stay counted: they were never linked to the user.
func (s *Store) DeleteUser(ctx context.Context, id string) ([]circly.EndedMembership, error) {
	var ended []circly.EndedMembership
	err := s.tx(ctx, func(tx *gorm.DB) error {
		var err error
		ended, err = s.deleteUserTx(tx, id, s.Now())
		return err
	})
	if err != nil {
		return nil, err
	}
	return ended, nil
}

// deleteUserTx is DeleteUser inside tx: a moderator's removal (the ladder's last rung) runs it
// in the decision's transaction.
func (s *Store) deleteUserTx(tx *gorm.DB, id string, now time.Time) ([]circly.EndedMembership, error) {
	var ended []circly.EndedMembership
	// Lock the user first, as poll creation does, so the user's own poll creations queue
	// behind this. NO KEY UPDATE, not FOR UPDATE: another member's poll creation in one of
	// this user's circles holds the circle's row and then notifies this user, which needs a
	// key share of this row; FOR UPDATE here would wait for that circle while the poll
	// waits for this row. The DELETE at the end takes the full lock.
	var locked []string
	if err := tx.Raw(`SELECT id FROM users WHERE id = ?`+s.forUpdate(), id).Scan(&locked).Error; err != nil {
		return nil, err
	}
	if len(locked) == 0 {
		return nil, circly.ErrUnauthorized
	}
	var memberships []struct {
		ID       string
		CircleID string
		Role     string
		Nickname string
	}
	if err := tx.Raw(`SELECT id, circle_id, role, nickname FROM circle_members WHERE user_id = ? AND left_at IS NULL`, id).
		Scan(&memberships).Error; err != nil {
		return nil, err
	}
	for _, m := range memberships {
		if err := s.endMembership(tx, m.CircleID, m.ID, "deleted", now); err != nil {
			return nil, err
		}
		e := circly.EndedMembership{CircleID: m.CircleID, MemberID: m.ID, Nickname: m.Nickname}
		if m.Role == circly.RoleCreator {
			deleted, err := s.handOverCircle(tx, m.CircleID, now)
			if err != nil {
				return nil, err
			}
			e.CircleDeleted = deleted
		}
		ended = append(ended, e)
	}
	if err := tx.Exec(`DELETE FROM vote_idempotency WHERE user_id = ?`, id).Error; err != nil {
		return nil, err
	}
	// The row is locked (or, on SQLite, the one writer holds it): it is still there.
	return ended, tx.Exec(`DELETE FROM users WHERE id = ?`, id).Error
}

// handOverCircle gives a circle whose creator left to its longest-standing member, or deletes
// it (deleted == true) when nobody is left.
func (s *Store) handOverCircle(tx *gorm.DB, circleID string, now time.Time) (deleted bool, err error) {
	var heir struct{ ID, UserID string }
	err = tx.Raw(`SELECT id, user_id FROM circle_members WHERE circle_id = ? AND left_at IS NULL
		ORDER BY join_seq LIMIT 1`, circleID).Take(&heir).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return true, s.deleteCircleTx(tx, circleID, now)
	}
	if err != nil {
		return false, err
	}
	if err := tx.Exec(`UPDATE circle_members SET role = ? WHERE id = ?`, circly.RoleCreator, heir.ID).Error; err != nil {
		return false, err
	}
	return false, tx.Exec(`UPDATE circles SET creator_user_id = ? WHERE id = ?`, heir.UserID, circleID).Error
}

func hashToken(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(sum[:])
}

func newRawToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// IssueRefreshToken starts a new token family for a login.
func (s *Store) IssueRefreshToken(ctx context.Context, userID string) (circly.RefreshToken, error) {
	return s.insertRefreshToken(s.conn(ctx), userID, uuid.NewString())
}

func (s *Store) insertRefreshToken(tx *gorm.DB, userID, familyID string) (circly.RefreshToken, error) {
	raw := newRawToken()
	now := s.Now()
	exp := now.Add(s.policy.RefreshTokenTTL)
	err := tx.Exec(`INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?)`, uuid.NewString(), userID, familyID, hashToken(raw), now, exp).Error
	return circly.RefreshToken{Token: raw, UserID: userID, ExpiresAt: exp}, err
}

// RotateRefreshToken trades a refresh token for a new one of the same family. A token that was
// already rotated is a sign of theft: the whole family is revoked.
func (s *Store) RotateRefreshToken(ctx context.Context, raw string) (circly.RefreshToken, error) {
	var out circly.RefreshToken
	var failure error
	err := s.tx(ctx, func(tx *gorm.DB) error {
		now := s.Now()
		h := hashToken(raw)
		var row struct{ UserID, FamilyID string }
		res := tx.Raw(`UPDATE refresh_tokens SET rotated_at = ?
			WHERE token_hash = ? AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > ?
			RETURNING user_id, family_id`, now, h, now).Scan(&row)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 1 {
			var err error
			out, err = s.insertRefreshToken(tx, row.UserID, row.FamilyID)
			return err
		}
		var old struct {
			FamilyID  string
			ExpiresAt time.Time
			RotatedAt *time.Time
			RevokedAt *time.Time
		}
		if err := tx.Raw(`SELECT family_id, expires_at, rotated_at, revoked_at FROM refresh_tokens WHERE token_hash = ?`, h).
			Take(&old).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				failure = circly.ErrInvalidToken
				return nil
			}
			return err
		}
		switch {
		case old.RevokedAt != nil:
			failure = circly.Errorf(circly.CodeInvalidToken, "the refresh token was revoked")
		case old.RotatedAt != nil:
			// Reuse of a rotated token: revoke every token of the family (committed below).
			failure = circly.Errorf(circly.CodeInvalidToken, "the refresh token was already used; all its sessions are revoked")
			return tx.Exec(`UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL`,
				now, old.FamilyID).Error
		default:
			failure = circly.Errorf(circly.CodeTokenExpired, "the refresh token has expired")
		}
		return nil
	})
	if err != nil {
		return circly.RefreshToken{}, err
	}
	if failure != nil {
		return circly.RefreshToken{}, failure
	}
	return out, nil
}
