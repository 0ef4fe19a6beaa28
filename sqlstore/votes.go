package sqlstore

import (
	"context"
	"errors"
	"sync"
	"time"

	"circly"

	"gorm.io/gorm"
)

// Vote records a ballot in two steps that never share a transaction:
//
//   - cast: the member joins the poll's participants and the choice goes, sealed, into the
//     poll's ballot box. Nothing else is written: no count, no time, no order.
//   - open: when at least TALLY_RELEASE_BATCH ballots wait, a transaction of its own opens them
//     all, adds them to the released tally and deletes them (box.go).
//
// So no transaction that writes a participant row writes the poll's counts, and the row
// versions PostgreSQL keeps cannot pair a voter with a choice. On PostgreSQL the cast is one
// call of circly_vote (migration 00007), one round trip; a vote that completes a batch makes
// a second, circly_open.
func (s *Store) Vote(ctx context.Context, userID string, req circly.VoteRequest) (circly.VoteResult, error) {
	if req.IdempotencyKey != "" {
		if res, ok, err := s.replayVote(ctx, userID, req); ok || err != nil {
			return res, err
		}
	}
	sealed, err := s.box.Seal(req.PollID, req.OptionID)
	if err != nil {
		return circly.VoteResult{}, errNotAnOption
	}
	now := s.Now()
	// The option is checked here, against the poll's cached options, so that the cast sends the
	// database the sealed ballot and never the choice beside the voter. A refusal is explained
	// by whyNoVote, in the order the contract gives (poll, membership, option, self, closed).
	db := s.conn(ctx)
	opts, err := s.pollOptions(db, req.PollID)
	if err != nil {
		return circly.VoteResult{}, err
	}
	if owner, ok := opts.owner[req.OptionID]; !ok || owner == userID {
		return circly.VoteResult{}, s.whyNoVote(db, userID, req, now)
	}
	cast := s.castInTx
	if s.dialect == Postgres {
		cast = s.castCall
	}
	c, err := cast(ctx, userID, req, sealed, now)
	if errors.Is(err, errReplay) {
		res, ok, err := s.replayVote(ctx, userID, req)
		if err == nil && !ok {
			err = errors.New("idempotency record vanished during replay")
		}
		return res, err
	}
	if err != nil {
		return circly.VoteResult{}, err
	}
	counts, err := parseCounts(c.ReleasedCounts)
	if err != nil {
		return circly.VoteResult{}, err
	}
	out := circly.VoteResult{PollID: req.PollID, OptionID: req.OptionID, VotedAt: now.Truncate(time.Second),
		Tally: tallyOf(req.PollID, c.ReleasedVersion, c.ReleasedTotal, false, opts.ids, counts)}
	if c.Waiting >= s.policy.TallyReleaseBatch {
		due := c.Due
		if s.policy.TallyReleaseBatch == 1 {
			due = [][]byte{sealed} // a batch of one is the voter's own ballot
		}
		t, opened, err := s.openDue(ctx, req.PollID, sealed, due)
		switch {
		case err != nil:
			out.OpenErr = err
		case opened:
			out.Tally, out.Released = t, true
		default:
			out.Tally = t
		}
	}
	return out, nil
}

var errNotAnOption = circly.Errorf(circly.CodeValidation, "option_id is not an option of this poll").WithDetails(map[string]any{"field": "option_id"})

// idempotencyExpiry is when an Idempotency-Key record made now expires: on the hour, so that the
// record keeps no finer trace of when the vote was cast.
func (s *Store) idempotencyExpiry(now time.Time) time.Time {
	return now.Add(s.policy.IdempotencyTTL).Truncate(time.Hour).Add(time.Hour)
}

// whyNoVote explains a vote whose checked read matched no row.
func (s *Store) whyNoVote(tx *gorm.DB, userID string, req circly.VoteRequest, now time.Time) error {
	var chk struct {
		Deadline       time.Time
		ClosedAt       *time.Time
		ViewerMemberID *string
		OptionPollID   *string
		OptionMemberID *string
		OptionUserID   *string // the user behind the option, also through an earlier membership
	}
	err := tx.Raw(`SELECT p.deadline, p.closed_at, m.id AS viewer_member_id,
			o.poll_id AS option_poll_id, o.member_id AS option_member_id, om.user_id AS option_user_id
		FROM polls p
		JOIN circles c ON c.id = p.circle_id AND c.deleted_at IS NULL
		LEFT JOIN circle_members m ON m.circle_id = p.circle_id AND m.user_id = ? AND m.left_at IS NULL
		LEFT JOIN poll_options o ON o.id = ?
		LEFT JOIN circle_members om ON om.id = o.member_id
		WHERE p.id = ? AND `+visiblePoll, userID, req.OptionID, req.PollID).Take(&chk).Error
	switch {
	case err != nil:
		return notFound(err, circly.ErrPollNotFound)
	case chk.ViewerMemberID == nil:
		return circly.ErrNotCircleMember
	case chk.OptionPollID == nil || *chk.OptionPollID != req.PollID:
		return errNotAnOption
	case *chk.OptionMemberID == *chk.ViewerMemberID || (chk.OptionUserID != nil && *chk.OptionUserID == userID):
		return circly.ErrSelfVote
	case chk.ClosedAt != nil || !chk.Deadline.After(now):
		return circly.ErrPollClosed
	}
	return errors.New("vote matched no poll row for no known reason")
}

// pollOptions is what the vote path needs of a poll's options: their ids in display order, and
// for each the user behind its membership ("" once that account is gone). Options never change
// after a poll is created and a membership's user only ever turns empty, so both are cached.
type pollOptions struct {
	ids   []string
	owner map[string]string
}

// pollOptions reads (or recalls) a poll's options; none for an unknown poll.
func (s *Store) pollOptions(db *gorm.DB, pollID string) (pollOptions, error) {
	if o, ok := s.optionCache.get(pollID); ok {
		return o, nil
	}
	var rows []struct {
		ID     string
		UserID *string
	}
	if err := db.Raw(`SELECT o.id, m.user_id FROM poll_options o JOIN circle_members m ON m.id = o.member_id
		WHERE o.poll_id = ? ORDER BY o.display_order`, pollID).Scan(&rows).Error; err != nil {
		return pollOptions{}, err
	}
	o := pollOptions{ids: make([]string, len(rows)), owner: make(map[string]string, len(rows))}
	for i, r := range rows {
		o.ids[i] = r.ID
		o.owner[r.ID] = ""
		if r.UserID != nil {
			o.owner[r.ID] = *r.UserID
		}
	}
	if len(rows) > 0 {
		s.optionCache.put(pollID, o)
	}
	return o, nil
}

// optionIDs lists a poll's option ids in display order (cached: the vote path needs no query).
func (s *Store) optionIDs(db *gorm.DB, pollID string) ([]string, error) {
	o, err := s.pollOptions(db, pollID)
	return o.ids, err
}

// boundedCache is a bounded map of immutable values; when full it starts over.
type boundedCache[V any] struct {
	mu  sync.Mutex
	m   map[string]V
	max int
}

func newBoundedCache[V any](limit int) *boundedCache[V] {
	return &boundedCache[V]{m: map[string]V{}, max: limit}
}

func (c *boundedCache[V]) get(k string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok
}

func (c *boundedCache[V]) put(k string, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		c.m = map[string]V{}
	}
	c.m[k] = v
}

var errReplay = errors.New("replay an earlier answer")

// replayVote answers a retried vote from its Idempotency-Key record. The record holds neither
// the option nor the time: the replay answers the poll and its current tally, and leaves
// option_id and voted_at empty rather than echo what it cannot know.
func (s *Store) replayVote(ctx context.Context, userID string, req circly.VoteRequest) (circly.VoteResult, bool, error) {
	var pollIDs []string
	err := s.conn(ctx).Raw(`SELECT poll_id FROM vote_idempotency WHERE user_id = ? AND key = ? AND expires_at > ?`,
		userID, req.IdempotencyKey, s.Now()).Scan(&pollIDs).Error
	if err != nil {
		return circly.VoteResult{}, false, err
	}
	if len(pollIDs) == 0 {
		return circly.VoteResult{}, false, nil
	}
	if pollIDs[0] != req.PollID {
		return circly.VoteResult{}, true, circly.Errorf(circly.CodeAlreadyExists, "this Idempotency-Key was already used for another poll")
	}
	t, err := s.Tally(ctx, req.PollID)
	if err != nil {
		return circly.VoteResult{}, true, err
	}
	return circly.VoteResult{PollID: req.PollID, Tally: t, Replayed: true}, true, nil
}

// tallyOf pairs option ids (in display order) with released counts.
func tallyOf(pollID string, version, total int, closed bool, optionIDs []string, counts []int) circly.Tally {
	t := circly.Tally{PollID: pollID, Version: version, TotalVotes: total, IsClosed: closed, Options: make([]circly.OptionCount, len(optionIDs))}
	for i, id := range optionIDs {
		t.Options[i] = circly.OptionCount{OptionID: id, VoteCount: countAt(counts, i+1)}
	}
	return t
}

// Tally returns a poll's current released tally as members may see it (no access check: callers
// check rights), POLL_NOT_FOUND for a hidden poll: it is what live snapshots and vote replays
// show, and a subscribe authorized just before a hide must not get a snapshot after it.
func (s *Store) Tally(ctx context.Context, pollID string) (circly.Tally, error) {
	return s.tally(ctx, pollID, true)
}

// tally reads a poll's released tally; visibleOnly refuses a hidden poll.
func (s *Store) tally(ctx context.Context, pollID string, visibleOnly bool) (circly.Tally, error) {
	db := s.conn(ctx)
	var p struct {
		ReleasedTotal   int
		ReleasedVersion int
		ReleasedCounts  string
		ClosedAt        *time.Time
	}
	q := `SELECT released_total, released_version, released_counts, closed_at FROM polls p WHERE p.id = ?`
	if visibleOnly {
		q += ` AND ` + visiblePoll
	}
	if err := db.Raw(q, pollID).Take(&p).Error; err != nil {
		return circly.Tally{}, notFound(err, circly.ErrPollNotFound)
	}
	counts, err := parseCounts(p.ReleasedCounts)
	if err != nil {
		return circly.Tally{}, err
	}
	ids, err := s.optionIDs(db, pollID)
	if err != nil {
		return circly.Tally{}, err
	}
	return tallyOf(pollID, p.ReleasedVersion, p.ReleasedTotal, p.ClosedAt != nil, ids, counts), nil
}

// ClosePoll closes a poll, opens its last ballots into the exact final tally and writes its
// result notifications (see CloseAndNotify). It is idempotent: only the first caller, on any
// replica, gets closed == true.
func (s *Store) ClosePoll(ctx context.Context, pollID string) (closed bool, err error) {
	c, err := s.CloseAndNotify(ctx, pollID)
	return c.Closed, err
}

// DuePolls lists open polls whose deadline has passed, oldest first.
func (s *Store) DuePolls(ctx context.Context, limit int) ([]string, error) {
	ids := []string{}
	err := s.conn(ctx).Raw(`SELECT id FROM polls WHERE closed_at IS NULL AND deadline <= ? ORDER BY deadline LIMIT ?`,
		s.Now(), limit).Scan(&ids).Error
	return ids, err
}

// GetResults ranks a poll's released tally for a member.
func (s *Store) GetResults(ctx context.Context, userID, pollID string) (circly.Results, error) {
	p, err := s.GetPoll(ctx, userID, pollID)
	if err != nil {
		return circly.Results{}, err
	}
	return circly.Rank(p), nil
}
