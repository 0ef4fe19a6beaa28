package sqlstore

import (
	"context"
	"errors"
	"time"

	"circly"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
)

// The cast's statements: the vote's rules (who may vote, while when, once per person, what is
// written), each written once. SQLite runs them one by one in castInTx; on PostgreSQL they are
// the body of circly_vote, which voteFunction generates from these constants (votefunc.go), so
// that a rule change is one edit here. Parameters are named: @poll, @user, @sealed, @key, @now
// and @expires are the call's; @member and @released_total are what checkSQL read.
const (
	// claimKeySQL records an Idempotency-Key, or finds it already recorded (no row written: a
	// replay). It waits for a concurrent request with the same key.
	claimKeySQL = `INSERT INTO vote_idempotency AS vi (user_id, key, poll_id, expires_at)
        VALUES (@user, @key, @poll, @expires)
        ON CONFLICT (user_id, key) DO UPDATE SET poll_id = excluded.poll_id, expires_at = excluded.expires_at
        WHERE vi.expires_at <= @now`

	// checkSQL finds the poll (not hidden by reports) through a live circle and the voter's
	// current membership, and
	// reads whether it is open, whether that membership is one of its voters (an option or the
	// creator, fixed when the poll was made) and its released tally. No row: no such poll,
	// circle or membership. The option was checked by the caller, against the poll's options,
	// which never change, so that the cast never carries the choice: only the sealed ballot.
	checkSQL = `SELECT m.id AS member_id, (p.closed_at IS NULL AND p.deadline > @now) AS open,
            (m.id = p.creator_member_id OR EXISTS (
                SELECT 1 FROM poll_options vo WHERE vo.poll_id = p.id AND vo.member_id = m.id)) AS voter,
            p.released_total, p.released_version, p.released_counts
        FROM polls p
        JOIN circles c ON c.id = p.circle_id AND c.deleted_at IS NULL
        JOIN circle_members m ON m.circle_id = p.circle_id AND m.user_id = @user AND m.left_at IS NULL
        WHERE p.id = @poll AND p.hidden_at IS NULL`

	// votedBeforeSQL tells a person who voted through an earlier membership from one whose
	// membership began after the poll was made.
	votedBeforeSQL = `SELECT EXISTS (SELECT 1 FROM poll_participants WHERE poll_id = @poll AND user_id = @user)`

	// participateSQL makes the member a participant: one ballot per membership and per person
	// (the unique (poll_id, user_id) index). No row written: already voted.
	participateSQL = `INSERT INTO poll_participants (poll_id, member_id, user_id) VALUES (@poll, @member, @user)
        ON CONFLICT DO NOTHING`

	// dropBallotSQL puts the sealed choice in the box: the poll and the sealed bytes, nothing else.
	dropBallotSQL = `INSERT INTO ballots (poll_id, sealed) VALUES (@poll, @sealed)`

	// waitingSQL counts the ballots waiting, this one included: the participants not yet
	// released (a cast adds one to both, an opening moves a batch from the box to the tally),
	// counted on poll_participants, which has no churn.
	waitingSQL = `SELECT count(*) - @released_total FROM poll_participants WHERE poll_id = @poll`

	// dueSQL lists the waiting ballots, for the caller to open a batch.
	dueSQL = `SELECT sealed FROM ballots WHERE poll_id = @poll`
)

// cast is what casting a ballot left: the released tally it saw, how many ballots wait (this
// one among them) and, when a batch of more than one is due, the waiting ballots.
type cast struct {
	ReleasedTotal   int
	ReleasedVersion int
	ReleasedCounts  string
	Waiting         int
	Due             [][]byte
}

// castInTx is the cast on SQLite: the statements one by one in a transaction. SQLite's single
// writer connection stands in for the row lock circly_vote takes.
func (s *Store) castInTx(ctx context.Context, userID string, req circly.VoteRequest, sealed []byte, now time.Time) (cast, error) {
	var out cast
	args := map[string]any{"poll": req.PollID, "user": userID, "sealed": sealed, "key": req.IdempotencyKey,
		"now": now, "expires": s.idempotencyExpiry(now)}
	err := s.tx(ctx, func(tx *gorm.DB) error {
		if req.IdempotencyKey != "" {
			res := tx.Exec(claimKeySQL, args)
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 0 {
				return errReplay
			}
		}
		var p struct {
			MemberID        string
			Open            bool
			Voter           bool
			ReleasedTotal   int
			ReleasedVersion int
			ReleasedCounts  string
		}
		res := tx.Raw(checkSQL, args).Scan(&p)
		switch {
		case res.Error != nil:
			return res.Error
		case res.RowsAffected == 0:
			return s.whyNoVote(tx, userID, req, now)
		case !p.Open:
			return circly.ErrPollClosed
		case !p.Voter:
			var voted bool
			if err := tx.Raw(votedBeforeSQL, args).Scan(&voted).Error; err != nil {
				return err
			}
			if voted {
				return circly.ErrAlreadyVoted
			}
			return circly.ErrNotPollVoter
		}
		args["member"], args["released_total"] = p.MemberID, p.ReleasedTotal
		res = tx.Exec(participateSQL, args)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return circly.ErrAlreadyVoted
		}
		if err := tx.Exec(dropBallotSQL, args).Error; err != nil {
			return err
		}
		out = cast{ReleasedTotal: p.ReleasedTotal, ReleasedVersion: p.ReleasedVersion, ReleasedCounts: p.ReleasedCounts}
		if err := tx.Raw(waitingSQL, args).Scan(&out.Waiting).Error; err != nil {
			return err
		}
		if out.Waiting >= s.policy.TallyReleaseBatch && s.policy.TallyReleaseBatch > 1 {
			return tx.Raw(dueSQL, args).Scan(&out.Due).Error
		}
		return nil
	})
	return out, err
}

// castCall is the cast on PostgreSQL: one call of circly_vote, one round trip. Its refusals
// roll it back whole and come back as SQLSTATEs CV000–CV003.
func (s *Store) castCall(ctx context.Context, userID string, req circly.VoteRequest, sealed []byte, now time.Time) (cast, error) {
	var key *string
	if req.IdempotencyKey != "" {
		key = &req.IdempotencyKey
	}
	var r struct {
		OReplay          bool
		OReleasedTotal   int
		OReleasedVersion int
		OReleasedCounts  string
		OWaiting         int
		ODue             string
	}
	db := s.conn(ctx)
	err := db.Raw(`SELECT o_replay, coalesce(o_released_total, 0) AS o_released_total,
			coalesce(o_released_version, 0) AS o_released_version, coalesce(o_released_counts, '') AS o_released_counts,
			coalesce(o_waiting, 0) AS o_waiting, coalesce(o_due, '') AS o_due
		FROM circly_vote(?, ?, ?, ?, ?, ?, ?)`,
		req.PollID, userID, sealed, key, s.policy.TallyReleaseBatch, now, s.idempotencyExpiry(now)).Scan(&r).Error
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "CV000":
			return cast{}, s.whyNoVote(db, userID, req, now)
		case "CV001":
			return cast{}, circly.ErrPollClosed
		case "CV002":
			return cast{}, circly.ErrAlreadyVoted
		case "CV003":
			return cast{}, circly.ErrNotPollVoter
		}
	}
	if err != nil {
		return cast{}, err
	}
	if r.OReplay {
		return cast{}, errReplay
	}
	due, err := parseHexList(r.ODue)
	return cast{ReleasedTotal: r.OReleasedTotal, ReleasedVersion: r.OReleasedVersion, ReleasedCounts: r.OReleasedCounts,
		Waiting: r.OWaiting, Due: due}, err
}
