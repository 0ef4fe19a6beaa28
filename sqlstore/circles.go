package sqlstore

import (
	"context"
	"crypto/rand"
	"errors"
	"math/big"
	"strings"
	"time"

	"circly"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

// memberColumns selects a Member from circle_members.
const memberColumns = `id, circle_id, user_id, nickname, role, joined_at`

// circleColumns selects a Circle for viewer membership m and circle c; the one argument is now.
const circleColumns = `c.id, c.name, c.max_members, c.member_count, m.role, c.invite_code, c.invite_link_id,
	c.invite_expires_at, c.created_at,
	(SELECT count(*) FROM polls p WHERE p.circle_id = c.id AND p.closed_at IS NULL AND p.deadline > ?
		AND ` + visiblePoll + `) AS active_polls`

func newInviteCode() string {
	b := make([]byte, circly.InviteCodeLength)
	n := big.NewInt(int64(len(circly.InviteAlphabet)))
	for i := range b {
		k, _ := rand.Int(rand.Reader, n)
		b[i] = circly.InviteAlphabet[k.Int64()]
	}
	return string(b)
}

// freshInvite picks an invite code no circle holds (a clash is one in a billion).
func (s *Store) freshInvite(tx *gorm.DB) (code, link string, err error) {
	for range 10 {
		code = newInviteCode()
		var n int64
		if err = tx.Raw(`SELECT count(*) FROM circles WHERE invite_code = ?`, code).Scan(&n).Error; err != nil {
			return "", "", err
		}
		if n == 0 {
			return code, uuid.NewString(), nil
		}
	}
	return "", "", errors.New("could not find a free invite code")
}

// CreateCircle makes a circle with the user as its creator and first member.
func (s *Store) CreateCircle(ctx context.Context, userID, name string, maxMembers int, nickname string) (circly.Circle, error) {
	id := uuid.NewString()
	err := s.tx(ctx, func(tx *gorm.DB) error {
		now := s.Now()
		code, link, err := s.freshInvite(tx)
		if err != nil {
			return err
		}
		if err := tx.Exec(`INSERT INTO circles (id, name, creator_user_id, max_members, member_count, join_seq,
			invite_code, invite_link_id, invite_expires_at, created_at) VALUES (?, ?, ?, ?, 1, 1, ?, ?, ?, ?)`,
			id, name, userID, maxMembers, code, link, now.Add(s.policy.InviteTTL), now).Error; err != nil {
			if isConstraintError(err) {
				return circly.ErrUnauthorized // the user row is gone
			}
			return err
		}
		return tx.Exec(`INSERT INTO circle_members (id, circle_id, user_id, nickname, role, join_seq, joined_at)
			VALUES (?, ?, ?, ?, ?, 1, ?)`, uuid.NewString(), id, userID, nickname, circly.RoleCreator, now).Error
	})
	if err != nil {
		return circly.Circle{}, err
	}
	return s.circleFor(s.conn(ctx), id, userID)
}

// circleFor loads a circle as seen by one of its active members.
func (s *Store) circleFor(db *gorm.DB, circleID, userID string) (circly.Circle, error) {
	var c circly.Circle
	err := db.Raw(`SELECT `+circleColumns+` FROM circles c
		JOIN circle_members m ON m.circle_id = c.id AND m.user_id = ? AND m.left_at IS NULL
		WHERE c.id = ? AND c.deleted_at IS NULL`, s.Now(), userID, circleID).Take(&c).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return circly.Circle{}, s.circleAccessError(db, circleID)
	}
	return c, err
}

// circleAccessError tells a missing circle from one the user is not in.
func (s *Store) circleAccessError(db *gorm.DB, circleID string) error {
	var n int64
	if err := db.Raw(`SELECT count(*) FROM circles WHERE id = ? AND deleted_at IS NULL`, circleID).Scan(&n).Error; err != nil {
		return err
	}
	if n == 0 {
		return circly.ErrCircleNotFound
	}
	return circly.ErrNotCircleMember
}

// ListCircles returns the circles the user belongs to, newest membership first.
func (s *Store) ListCircles(ctx context.Context, userID string, page circly.Page) ([]circly.Circle, int64, error) {
	db := s.conn(ctx)
	var total int64
	if err := db.Raw(`SELECT count(*) FROM circle_members m JOIN circles c ON c.id = m.circle_id
		WHERE m.user_id = ? AND m.left_at IS NULL AND c.deleted_at IS NULL`, userID).Scan(&total).Error; err != nil {
		return nil, 0, err
	}
	circles := []circly.Circle{}
	err := db.Raw(`SELECT `+circleColumns+` FROM circle_members m JOIN circles c ON c.id = m.circle_id
		WHERE m.user_id = ? AND m.left_at IS NULL AND c.deleted_at IS NULL
		ORDER BY m.joined_at DESC, c.id LIMIT ? OFFSET ?`, s.Now(), userID, page.Limit, page.Offset).Scan(&circles).Error
	return circles, total, err
}

// GetCircle returns a circle and its members to one of its members.
func (s *Store) GetCircle(ctx context.Context, userID, circleID string) (circly.CircleDetail, error) {
	db := s.conn(ctx)
	c, err := s.circleFor(db, circleID, userID)
	if err != nil {
		return circly.CircleDetail{}, err
	}
	members, err := s.activeMembers(db, circleID)
	return circly.CircleDetail{Circle: c, Members: members}, err
}

func (s *Store) activeMembers(db *gorm.DB, circleID string) ([]circly.Member, error) {
	members := []circly.Member{}
	err := db.Raw(`SELECT `+memberColumns+` FROM circle_members
		WHERE circle_id = ? AND left_at IS NULL ORDER BY join_seq`, circleID).Scan(&members).Error
	return members, err
}

// lockedMembership locks a circle row and returns the user's active membership in it.
func (s *Store) lockedMembership(tx *gorm.DB, circleID, userID string) (circly.Member, error) {
	var locked []string
	if err := tx.Raw(`SELECT id FROM circles WHERE id = ? AND deleted_at IS NULL`+s.forUpdate(), circleID).
		Scan(&locked).Error; err != nil {
		return circly.Member{}, err
	}
	if len(locked) == 0 {
		return circly.Member{}, circly.ErrCircleNotFound
	}
	var m circly.Member
	err := tx.Raw(`SELECT `+memberColumns+` FROM circle_members
		WHERE circle_id = ? AND user_id = ? AND left_at IS NULL`, circleID, userID).Take(&m).Error
	return m, notFound(err, circly.ErrNotCircleMember)
}

// lockedCreator is lockedMembership for actions only the creator may take.
func (s *Store) lockedCreator(tx *gorm.DB, circleID, userID string) (circly.Member, error) {
	m, err := s.lockedMembership(tx, circleID, userID)
	if err == nil && m.Role != circly.RoleCreator {
		err = circly.ErrNotCircleCreator
	}
	return m, err
}

// UpdateCircle renames or resizes a circle (creator only).
func (s *Store) UpdateCircle(ctx context.Context, userID, circleID string, up circly.CircleUpdate) (circly.Circle, error) {
	err := s.tx(ctx, func(tx *gorm.DB) error {
		if _, err := s.lockedCreator(tx, circleID, userID); err != nil {
			return err
		}
		if up.Name != nil {
			if err := tx.Exec(`UPDATE circles SET name = ? WHERE id = ?`, *up.Name, circleID).Error; err != nil {
				return err
			}
		}
		if up.MaxMembers != nil {
			res := tx.Exec(`UPDATE circles SET max_members = ? WHERE id = ? AND member_count <= ?`,
				*up.MaxMembers, circleID, *up.MaxMembers)
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 0 {
				return circly.Errorf(circly.CodeCircleFull, "the circle has more members than %d", *up.MaxMembers)
			}
		}
		return nil
	})
	if err != nil {
		return circly.Circle{}, err
	}
	return s.circleFor(s.conn(ctx), circleID, userID)
}

// DeleteCircle soft-deletes a circle (creator only) and closes its open polls with their final
// tallies. It returns the ids of the polls it closed that members could see (a hidden poll is
// closed too, and named nowhere).
func (s *Store) DeleteCircle(ctx context.Context, userID, circleID string) ([]string, error) {
	closed := []string{}
	err := s.tx(ctx, func(tx *gorm.DB) error {
		if _, err := s.lockedCreator(tx, circleID, userID); err != nil {
			return err
		}
		if err := tx.Raw(`SELECT p.id FROM polls p WHERE p.circle_id = ? AND p.closed_at IS NULL AND `+visiblePoll,
			circleID).Scan(&closed).Error; err != nil {
			return err
		}
		return s.deleteCircleTx(tx, circleID, s.Now())
	})
	return closed, err
}

func (s *Store) openPollIDs(tx *gorm.DB, circleID string) ([]string, error) {
	ids := []string{}
	err := tx.Raw(`SELECT id FROM polls WHERE circle_id = ? AND closed_at IS NULL`, circleID).Scan(&ids).Error
	return ids, err
}

func (s *Store) deleteCircleTx(tx *gorm.DB, circleID string, now time.Time) error {
	ids, err := s.openPollIDs(tx, circleID)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := s.closePollTx(tx, id, now); err != nil {
			return err
		}
	}
	return tx.Exec(`UPDATE circles SET deleted_at = ?, invite_code = NULL, invite_link_id = NULL,
		invite_expires_at = NULL WHERE id = ?`, now, circleID).Error
}

// JoinCircle adds the user to the circle an invite points at. The circle row is locked for the
// whole check-and-insert, so concurrent joins never pass max_members.
func (s *Store) JoinCircle(ctx context.Context, userID string, req circly.JoinRequest) (circly.Circle, circly.Member, error) {
	var circleID, memberID string
	err := s.tx(ctx, func(tx *gorm.DB) error {
		now := s.Now()
		var c struct {
			ID              string
			MaxMembers      int
			MemberCount     int
			InviteExpiresAt *time.Time
		}
		q := `SELECT id, max_members, member_count, invite_expires_at FROM circles WHERE deleted_at IS NULL AND `
		var err error
		if req.InviteCode != "" {
			err = tx.Raw(q+`invite_code = ?`+s.forUpdate(), strings.ToUpper(req.InviteCode)).Take(&c).Error
		} else {
			err = tx.Raw(q+`invite_link_id = ?`+s.forUpdate(), req.InviteLinkID).Take(&c).Error
		}
		if err != nil {
			return notFound(err, circly.ErrInviteNotFound)
		}
		if c.InviteExpiresAt == nil || !c.InviteExpiresAt.After(now) {
			return circly.ErrInviteExpired
		}
		circleID = c.ID
		var taken struct{ Mine, Nick int64 }
		if err := tx.Raw(`SELECT
			(SELECT count(*) FROM circle_members WHERE circle_id = ? AND user_id = ? AND left_at IS NULL) AS mine,
			(SELECT count(*) FROM circle_members WHERE circle_id = ? AND nickname = ? AND left_at IS NULL) AS nick`,
			c.ID, userID, c.ID, req.Nickname).Scan(&taken).Error; err != nil {
			return err
		}
		switch {
		case taken.Mine > 0:
			return circly.ErrAlreadyMember
		case taken.Nick > 0:
			return circly.ErrNicknameTaken
		case c.MemberCount >= c.MaxMembers:
			return circly.ErrCircleFull
		}
		var seq int64
		res := tx.Raw(`UPDATE circles SET member_count = member_count + 1, join_seq = join_seq + 1
			WHERE id = ? AND member_count < max_members RETURNING join_seq`, c.ID).Scan(&seq)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return circly.ErrCircleFull
		}
		memberID = uuid.NewString()
		err = tx.Exec(`INSERT INTO circle_members (id, circle_id, user_id, nickname, role, join_seq, joined_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, memberID, c.ID, userID, req.Nickname, circly.RoleMember, seq, now).Error
		if isConstraintError(err) {
			return circly.ErrAlreadyMember
		}
		return err
	})
	if err != nil {
		return circly.Circle{}, circly.Member{}, err
	}
	db := s.conn(ctx)
	c, err := s.circleFor(db, circleID, userID)
	if err != nil {
		return circly.Circle{}, circly.Member{}, err
	}
	var m circly.Member
	err = db.Raw(`SELECT `+memberColumns+` FROM circle_members WHERE id = ?`, memberID).Take(&m).Error
	return c, m, err
}

// RegenerateInvite replaces a circle's invite code and link (creator only); the old ones stop working.
func (s *Store) RegenerateInvite(ctx context.Context, userID, circleID string) (circly.Circle, error) {
	err := s.tx(ctx, func(tx *gorm.DB) error {
		if _, err := s.lockedCreator(tx, circleID, userID); err != nil {
			return err
		}
		code, link, err := s.freshInvite(tx)
		if err != nil {
			return err
		}
		return tx.Exec(`UPDATE circles SET invite_code = ?, invite_link_id = ?, invite_expires_at = ? WHERE id = ?`,
			code, link, s.Now().Add(s.policy.InviteTTL), circleID).Error
	})
	if err != nil {
		return circly.Circle{}, err
	}
	return s.circleFor(s.conn(ctx), circleID, userID)
}

// LeaveCircle ends the user's membership. The creator cannot leave, only delete the circle.
func (s *Store) LeaveCircle(ctx context.Context, userID, circleID string) (circly.Member, error) {
	var m circly.Member
	err := s.tx(ctx, func(tx *gorm.DB) error {
		var err error
		m, err = s.lockedMembership(tx, circleID, userID)
		if err != nil {
			return err
		}
		if m.Role == circly.RoleCreator {
			return circly.Errorf(circly.CodeForbidden, "the creator cannot leave the circle; delete it instead")
		}
		return s.endMembership(tx, circleID, m.ID, "left", s.Now())
	})
	return m, err
}

// RemoveMember ends another member's membership (creator only) and returns it.
func (s *Store) RemoveMember(ctx context.Context, userID, circleID, memberID string) (circly.Member, error) {
	var target circly.Member
	err := s.tx(ctx, func(tx *gorm.DB) error {
		me, err := s.lockedCreator(tx, circleID, userID)
		if err != nil {
			return err
		}
		if memberID == me.ID {
			return circly.Errorf(circly.CodeValidation, "the creator cannot remove themselves; delete the circle instead")
		}
		if err := tx.Raw(`SELECT `+memberColumns+` FROM circle_members
			WHERE id = ? AND circle_id = ? AND left_at IS NULL`, memberID, circleID).Take(&target).Error; err != nil {
			return notFound(err, circly.Errorf(circly.CodeNotFound, "no such member in this circle"))
		}
		return s.endMembership(tx, circleID, memberID, "removed", s.Now())
	})
	return target, err
}

func (s *Store) endMembership(tx *gorm.DB, circleID, memberID, reason string, now time.Time) error {
	res := tx.Exec(`UPDATE circle_members SET left_at = ?, left_reason = ? WHERE id = ? AND left_at IS NULL`,
		now, reason, memberID)
	if res.Error != nil || res.RowsAffected == 0 {
		return res.Error
	}
	return tx.Exec(`UPDATE circles SET member_count = member_count - 1 WHERE id = ?`, circleID).Error
}

// InvitePreview reads what an invite link shows before joining, with the same answers as a
// join by that link: unknown (or regenerated, or of a deleted circle) ErrInviteNotFound,
// expired ErrInviteExpired. It locks nothing and changes nothing.
func (s *Store) InvitePreview(ctx context.Context, linkID string) (circly.InvitePreview, error) {
	var c struct {
		Name            string
		MemberCount     int
		MaxMembers      int
		InviteExpiresAt *time.Time
	}
	err := s.conn(ctx).Raw(`SELECT name, member_count, max_members, invite_expires_at FROM circles
		WHERE deleted_at IS NULL AND invite_link_id = ?`, linkID).Take(&c).Error
	if err != nil {
		return circly.InvitePreview{}, notFound(err, circly.ErrInviteNotFound)
	}
	if c.InviteExpiresAt == nil || !c.InviteExpiresAt.After(s.Now()) {
		return circly.InvitePreview{}, circly.ErrInviteExpired
	}
	return circly.InvitePreview{CircleName: c.Name, MemberCount: c.MemberCount, MaxMembers: c.MaxMembers}, nil
}
