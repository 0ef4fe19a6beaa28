package models

import (
	"context"
	"errors"
	"math"
	"sort"
	"time"

	"gorm.io/gorm"
)

// Tally is a poll's released tally: what every client is allowed to see.
type Tally struct {
	PollID     string
	Version    int
	TotalVotes int
	Options    []OptionCount
	IsClosed   bool
}

// OptionCount is one option's released count.
type OptionCount struct {
	OptionID  string
	VoteCount int
}

// VoteRequest is one ballot. IdempotencyKey is optional.
type VoteRequest struct {
	PollID         string
	OptionID       string
	IdempotencyKey string
}

// VoteResult answers a vote. Released is true when this vote released a new tally.
type VoteResult struct {
	PollID   string
	OptionID string
	VotedAt  time.Time
	Tally    Tally
	Released bool
	Replayed bool // answered from an earlier request with the same Idempotency-Key
}

// Vote records a ballot. The member is added to the poll's participants and the option's
// count goes up in one transaction; nothing records which participant chose which option.
//
// Every option row of the poll is rewritten by the same statement, so row-version metadata
// (PostgreSQL's xmin, say) cannot single out the option this transaction touched.
func (s *Store) Vote(ctx context.Context, userID string, req VoteRequest) (VoteResult, error) {
	if req.IdempotencyKey != "" {
		if res, ok, err := s.replayVote(ctx, userID, req); ok || err != nil {
			return res, err
		}
	}
	var out VoteResult
	replay := false
	err := s.tx(ctx, func(tx *gorm.DB) error {
		now := s.Now()
		var chk struct {
			CircleID       string
			Deadline       time.Time
			ClosedAt       *time.Time
			ViewerMemberID *string
			OptionPollID   *string
			OptionMemberID *string
			OptionUserID   *string // the user behind the option, also through an earlier membership
		}
		err := tx.Raw(`SELECT p.circle_id, p.deadline, p.closed_at, m.id AS viewer_member_id,
				o.poll_id AS option_poll_id, o.member_id AS option_member_id, om.user_id AS option_user_id
			FROM polls p
			JOIN circles c ON c.id = p.circle_id AND c.deleted_at IS NULL
			LEFT JOIN circle_members m ON m.circle_id = p.circle_id AND m.user_id = ? AND m.left_at IS NULL
			LEFT JOIN poll_options o ON o.id = ?
			LEFT JOIN circle_members om ON om.id = o.member_id
			WHERE p.id = ?`, userID, req.OptionID, req.PollID).Take(&chk).Error
		if err != nil {
			return notFound(err, ErrPollNotFound)
		}
		switch {
		case chk.ViewerMemberID == nil:
			return ErrNotCircleMember
		case chk.OptionPollID == nil || *chk.OptionPollID != req.PollID:
			return Errorf(CodeValidation, "option_id is not an option of this poll").WithDetails(map[string]any{"field": "option_id"})
		case *chk.OptionMemberID == *chk.ViewerMemberID || (chk.OptionUserID != nil && *chk.OptionUserID == userID):
			return ErrSelfVote
		case chk.ClosedAt != nil || !chk.Deadline.After(now):
			return ErrPollClosed
		}
		if req.IdempotencyKey != "" {
			// Waits for a concurrent request with the same key; replays it if that one committed.
			res := tx.Exec(`INSERT INTO vote_idempotency (user_id, key, poll_id, voted_at, expires_at) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (user_id, key) DO UPDATE SET poll_id = excluded.poll_id, voted_at = excluded.voted_at,
					expires_at = excluded.expires_at WHERE vote_idempotency.expires_at <= ?`,
				userID, req.IdempotencyKey, req.PollID, now.Truncate(time.Second), now.Add(s.policy.IdempotencyTTL), now)
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 0 {
				replay = true
				return errReplay
			}
		}
		batch := s.policy.TallyReleaseBatch
		var p struct{ VoteTotal, ReleasedTotal, ReleasedVersion int }
		res := tx.Raw(`UPDATE polls SET vote_total = vote_total + 1,
				released_total = CASE WHEN vote_total + 1 - released_total >= ? THEN vote_total + 1 ELSE released_total END,
				released_version = CASE WHEN vote_total + 1 - released_total >= ? THEN released_version + 1 ELSE released_version END
			WHERE id = ? AND closed_at IS NULL AND deadline > ?
			RETURNING vote_total, released_total, released_version`, batch, batch, req.PollID, now).Scan(&p)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrPollClosed
		}
		// One ballot per person: a member who left and rejoined keeps the ballot of the old membership.
		res = tx.Exec(`INSERT INTO poll_participants (poll_id, member_id)
			SELECT ?, ? WHERE NOT EXISTS (SELECT 1 FROM poll_participants pp JOIN circle_members vm ON vm.id = pp.member_id
				WHERE pp.poll_id = ? AND vm.user_id = ?)
			ON CONFLICT (poll_id, member_id) DO NOTHING`, req.PollID, *chk.ViewerMemberID, req.PollID, userID)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrAlreadyVoted
		}
		released := p.ReleasedTotal == p.VoteTotal
		set := `vote_count = vote_count + CASE WHEN id = ? THEN 1 ELSE 0 END`
		args := []any{req.OptionID}
		if released {
			set += `, released_count = vote_count + CASE WHEN id = ? THEN 1 ELSE 0 END`
			args = append(args, req.OptionID)
		}
		var counts []optionCountRow
		if err := tx.Raw(`UPDATE poll_options SET `+set+` WHERE poll_id = ? RETURNING id, display_order, released_count`,
			append(args, req.PollID)...).Scan(&counts).Error; err != nil {
			return err
		}
		out = VoteResult{
			PollID: req.PollID, OptionID: req.OptionID, VotedAt: now.Truncate(time.Second), Released: released,
			Tally: tallyOf(req.PollID, p.ReleasedVersion, p.ReleasedTotal, false, counts),
		}
		return nil
	})
	if replay {
		res, ok, err := s.replayVote(ctx, userID, req)
		if err == nil && !ok {
			err = errors.New("idempotency record vanished during replay")
		}
		return res, err
	}
	return out, err
}

var errReplay = errors.New("replay an earlier answer")

// replayVote answers a retried vote from its Idempotency-Key record. The record never holds the
// option: the answer echoes the retry's option_id, and the tally is the poll's current one.
func (s *Store) replayVote(ctx context.Context, userID string, req VoteRequest) (VoteResult, bool, error) {
	var rec struct {
		PollID  string
		VotedAt time.Time
	}
	err := s.conn(ctx).Raw(`SELECT poll_id, voted_at FROM vote_idempotency WHERE user_id = ? AND key = ? AND expires_at > ?`,
		userID, req.IdempotencyKey, s.Now()).Take(&rec).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return VoteResult{}, false, nil
	}
	if err != nil {
		return VoteResult{}, false, err
	}
	if rec.PollID != req.PollID {
		return VoteResult{}, true, Errorf(CodeAlreadyExists, "this Idempotency-Key was already used for another poll")
	}
	t, err := s.Tally(ctx, req.PollID)
	if err != nil {
		return VoteResult{}, true, err
	}
	return VoteResult{PollID: rec.PollID, OptionID: req.OptionID, VotedAt: rec.VotedAt, Tally: t, Replayed: true}, true, nil
}

type optionCountRow struct {
	ID            string
	DisplayOrder  int
	ReleasedCount int
}

func tallyOf(pollID string, version, total int, closed bool, rows []optionCountRow) Tally {
	sort.Slice(rows, func(i, j int) bool { return rows[i].DisplayOrder < rows[j].DisplayOrder })
	t := Tally{PollID: pollID, Version: version, TotalVotes: total, IsClosed: closed, Options: make([]OptionCount, len(rows))}
	for i, r := range rows {
		t.Options[i] = OptionCount{OptionID: r.ID, VoteCount: r.ReleasedCount}
	}
	return t
}

// Tally returns a poll's current released tally (no access check: callers check rights).
func (s *Store) Tally(ctx context.Context, pollID string) (Tally, error) {
	db := s.conn(ctx)
	var p struct {
		ReleasedTotal   int
		ReleasedVersion int
		ClosedAt        *time.Time
	}
	if err := db.Raw(`SELECT released_total, released_version, closed_at FROM polls WHERE id = ?`, pollID).Take(&p).Error; err != nil {
		return Tally{}, notFound(err, ErrPollNotFound)
	}
	var rows []optionCountRow
	if err := db.Raw(`SELECT id, display_order, released_count FROM poll_options WHERE poll_id = ?`, pollID).Scan(&rows).Error; err != nil {
		return Tally{}, err
	}
	return tallyOf(pollID, p.ReleasedVersion, p.ReleasedTotal, p.ClosedAt != nil, rows), nil
}

// ClosePoll closes a poll and releases its exact final tally. It is idempotent: only the first
// caller, on any replica, gets closed == true.
func (s *Store) ClosePoll(ctx context.Context, pollID string) (closed bool, err error) {
	err = s.tx(ctx, func(tx *gorm.DB) error {
		closed, err = s.closePollTx(tx, pollID, s.Now())
		return err
	})
	return closed, err
}

func (s *Store) closePollTx(tx *gorm.DB, pollID string, now time.Time) (bool, error) {
	res := tx.Exec(`UPDATE polls SET closed_at = ?, released_total = vote_total, released_version = released_version + 1
		WHERE id = ? AND closed_at IS NULL`, now, pollID)
	if res.Error != nil || res.RowsAffected == 0 {
		return false, res.Error
	}
	return true, tx.Exec(`UPDATE poll_options SET released_count = vote_count WHERE poll_id = ?`, pollID).Error
}

// DuePolls lists open polls whose deadline has passed, oldest first.
func (s *Store) DuePolls(ctx context.Context, limit int) ([]string, error) {
	ids := []string{}
	err := s.conn(ctx).Raw(`SELECT id FROM polls WHERE closed_at IS NULL AND deadline <= ? ORDER BY deadline LIMIT ?`,
		s.Now(), limit).Scan(&ids).Error
	return ids, err
}

// Results is a poll's released tally ranked for display.
type Results struct {
	PollID       string
	QuestionText string
	TotalVotes   int
	IsClosed     bool
	Version      int
	Results      []Result
	Winner       *Result
}

// Result is one option's place in the results.
type Result struct {
	OptionID       string
	MemberNickname string
	VoteCount      int
	Percentage     float64
	Rank           int
}

// GetResults ranks a poll's released tally for a member.
func (s *Store) GetResults(ctx context.Context, userID, pollID string) (Results, error) {
	p, err := s.GetPoll(ctx, userID, pollID)
	if err != nil {
		return Results{}, err
	}
	return Rank(p), nil
}

// Rank orders options by released votes. Ties share a rank (1, 1, 3); percentages have one
// decimal and, when there are votes, sum to exactly 100 (largest remainder). Winner is the
// sole leader, or nil when nobody has votes or several share first place.
func Rank(p Poll) Results {
	r := Results{PollID: p.ID, QuestionText: p.QuestionText, TotalVotes: p.TotalVotes, IsClosed: p.IsClosed,
		Version: p.Version, Results: make([]Result, len(p.Options))}
	for i, o := range p.Options {
		r.Results[i] = Result{OptionID: o.ID, MemberNickname: o.MemberNickname, VoteCount: o.VoteCount}
	}
	sort.SliceStable(r.Results, func(i, j int) bool { return r.Results[i].VoteCount > r.Results[j].VoteCount })
	for i := range r.Results {
		if i > 0 && r.Results[i].VoteCount == r.Results[i-1].VoteCount {
			r.Results[i].Rank = r.Results[i-1].Rank
		} else {
			r.Results[i].Rank = i + 1
		}
	}
	assignPercentages(r.Results)
	if len(r.Results) > 0 && r.Results[0].VoteCount > 0 && (len(r.Results) == 1 || r.Results[1].Rank != 1) {
		w := r.Results[0]
		r.Winner = &w
	}
	return r
}

// assignPercentages gives each result its share in tenths of a percent, distributing the
// rounding remainder so the shares add up to 100.0.
func assignPercentages(rs []Result) {
	total := 0
	for _, x := range rs {
		total += x.VoteCount
	}
	if total == 0 {
		return
	}
	tenths := make([]int, len(rs))
	rem := make([]float64, len(rs))
	used := 0
	for i, x := range rs {
		exact := float64(x.VoteCount) * 1000 / float64(total)
		tenths[i] = int(math.Floor(exact))
		rem[i] = exact - float64(tenths[i])
		used += tenths[i]
	}
	order := make([]int, len(rs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return rem[order[a]] > rem[order[b]] })
	for k := 0; used < 1000; k++ {
		tenths[order[k%len(order)]]++
		used++
	}
	for i := range rs {
		rs[i].Percentage = float64(tenths[i]) / 10
	}
}
