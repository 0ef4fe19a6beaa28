package models

import (
	"context"
	"errors"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
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

// Vote records a ballot: the member joins the poll's participants and the option's count on the
// poll row goes up, in one transaction. Nothing records which participant chose which option,
// and the only row whose content changes with the option is the poll row, which every vote of
// the poll rewrites.
//
// The happy path is two statements: an UPDATE that checks membership, option, self-vote and
// circle in its joins (and locks the poll row, so votes on one poll queue and a concurrent close
// is seen), then the participant insert that enforces one ballot per person. Only when the
// UPDATE matches nothing does a read find out why. On PostgreSQL the statements run inside one
// function call (circly_vote, migration 00006), one round trip instead of four.
func (s *Store) Vote(ctx context.Context, userID string, req VoteRequest) (VoteResult, error) {
	if req.IdempotencyKey != "" {
		if res, ok, err := s.replayVote(ctx, userID, req); ok || err != nil {
			return res, err
		}
	}
	vote := s.voteInTx
	if s.dialect == Postgres {
		vote = s.voteCall
	}
	out, err := vote(ctx, userID, req)
	if errors.Is(err, errReplay) {
		res, ok, err := s.replayVote(ctx, userID, req)
		if err == nil && !ok {
			err = errors.New("idempotency record vanished during replay")
		}
		return res, err
	}
	return out, err
}

// voteCall is the vote on PostgreSQL: one call of circly_vote, whose refusals roll it back
// whole and come back as SQLSTATEs CV000–CV002.
func (s *Store) voteCall(ctx context.Context, userID string, req VoteRequest) (VoteResult, error) {
	now := s.Now()
	var key *string
	if req.IdempotencyKey != "" {
		key = &req.IdempotencyKey
	}
	var r struct {
		OReplay          bool
		OVoteTotal       int
		OReleasedTotal   int
		OReleasedVersion int
		OReleasedCounts  string
	}
	db := s.conn(ctx)
	err := db.Raw(`SELECT o_replay, coalesce(o_vote_total, 0) AS o_vote_total, coalesce(o_released_total, 0) AS o_released_total,
			coalesce(o_released_version, 0) AS o_released_version, coalesce(o_released_counts, '') AS o_released_counts
		FROM circly_vote(?, ?, ?, ?, ?, ?, ?, ?)`,
		req.PollID, userID, req.OptionID, key, s.policy.TallyReleaseBatch,
		now, now.Truncate(time.Second), now.Add(s.policy.IdempotencyTTL)).Scan(&r).Error
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "CV000":
			return VoteResult{}, s.whyNoVote(db, userID, req, now)
		case "CV001":
			return VoteResult{}, ErrPollClosed
		case "CV002":
			return VoteResult{}, ErrAlreadyVoted
		}
	}
	if err != nil {
		return VoteResult{}, err
	}
	if r.OReplay {
		return VoteResult{}, errReplay
	}
	return s.voteResult(db, req, now, r.OVoteTotal, r.OReleasedTotal, r.OReleasedVersion, r.OReleasedCounts)
}

// voteInTx is the vote on SQLite, statement by statement in one transaction (circly_vote does
// the same on PostgreSQL).
func (s *Store) voteInTx(ctx context.Context, userID string, req VoteRequest) (VoteResult, error) {
	var out VoteResult
	err := s.tx(ctx, func(tx *gorm.DB) error {
		now := s.Now()
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
				return errReplay
			}
		}
		batch := s.policy.TallyReleaseBatch
		due := `polls.vote_total + 1 - polls.released_total >= ?`
		bumped := jsonIncremented("polls.vote_counts", "o.display_order")
		var p struct {
			CircleID        string
			VoteTotal       int
			ReleasedTotal   int
			ReleasedVersion int
			ReleasedCounts  string
			Open            bool
		}
		res := tx.Raw(`UPDATE polls SET vote_total = polls.vote_total + 1,
				vote_counts = `+bumped+`,
				released_total = CASE WHEN `+due+` THEN polls.vote_total + 1 ELSE polls.released_total END,
				released_counts = CASE WHEN `+due+` THEN `+bumped+` ELSE polls.released_counts END,
				released_version = CASE WHEN `+due+` THEN polls.released_version + 1 ELSE polls.released_version END
			FROM circles c, circle_members m, poll_options o
			WHERE polls.id = ? AND c.id = polls.circle_id AND c.deleted_at IS NULL
				AND m.circle_id = polls.circle_id AND m.user_id = ? AND m.left_at IS NULL
				AND o.id = ? AND o.poll_id = polls.id AND o.member_id <> m.id
				AND NOT EXISTS (SELECT 1 FROM circle_members om WHERE om.id = o.member_id AND om.user_id = ?)
			RETURNING polls.circle_id, polls.vote_total, polls.released_total, polls.released_version, polls.released_counts,
				(polls.closed_at IS NULL AND polls.deadline > ?) AS open`,
			batch, batch, batch, req.PollID, userID, req.OptionID, userID, now).Scan(&p)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return s.whyNoVote(tx, userID, req, now)
		}
		if !p.Open {
			return ErrPollClosed
		}
		// One ballot per membership and per person (the unique (poll_id, user_id) index): a member
		// who left and rejoined keeps the ballot of the old membership.
		res = tx.Exec(`INSERT INTO poll_participants (poll_id, member_id, user_id)
			SELECT ?, m.id, m.user_id FROM circle_members m
			WHERE m.circle_id = ? AND m.user_id = ? AND m.left_at IS NULL
			ON CONFLICT DO NOTHING`, req.PollID, p.CircleID, userID)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrAlreadyVoted
		}
		var err error
		out, err = s.voteResult(tx, req, now, p.VoteTotal, p.ReleasedTotal, p.ReleasedVersion, p.ReleasedCounts)
		return err
	})
	return out, err
}

// voteResult answers a counted ballot with the released tally as the vote left it.
func (s *Store) voteResult(db *gorm.DB, req VoteRequest, now time.Time, voteTotal, releasedTotal, releasedVersion int, releasedCounts string) (VoteResult, error) {
	ids, err := s.optionIDs(db, req.PollID)
	if err != nil {
		return VoteResult{}, err
	}
	counts, err := parseCounts(releasedCounts)
	if err != nil {
		return VoteResult{}, err
	}
	return VoteResult{
		PollID: req.PollID, OptionID: req.OptionID, VotedAt: now.Truncate(time.Second),
		Released: releasedTotal == voteTotal,
		Tally:    tallyOf(req.PollID, releasedVersion, releasedTotal, false, ids, counts),
	}, nil
}

// whyNoVote explains a vote whose checked UPDATE matched no row.
func (s *Store) whyNoVote(tx *gorm.DB, userID string, req VoteRequest, now time.Time) error {
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
		WHERE p.id = ?`, userID, req.OptionID, req.PollID).Take(&chk).Error
	switch {
	case err != nil:
		return notFound(err, ErrPollNotFound)
	case chk.ViewerMemberID == nil:
		return ErrNotCircleMember
	case chk.OptionPollID == nil || *chk.OptionPollID != req.PollID:
		return Errorf(CodeValidation, "option_id is not an option of this poll").WithDetails(map[string]any{"field": "option_id"})
	case *chk.OptionMemberID == *chk.ViewerMemberID || (chk.OptionUserID != nil && *chk.OptionUserID == userID):
		return ErrSelfVote
	case chk.ClosedAt != nil || !chk.Deadline.After(now):
		return ErrPollClosed
	}
	return errors.New("vote matched no poll row for no known reason")
}

// optionIDs lists a poll's option ids in display order. Options never change after a poll is
// created, so the list is cached: the vote path then needs no query for it.
func (s *Store) optionIDs(db *gorm.DB, pollID string) ([]string, error) {
	if ids, ok := s.optionCache.get(pollID); ok {
		return ids, nil
	}
	ids := []string{}
	if err := db.Raw(`SELECT id FROM poll_options WHERE poll_id = ? ORDER BY display_order`, pollID).Scan(&ids).Error; err != nil {
		return nil, err
	}
	if len(ids) > 0 {
		s.optionCache.put(pollID, ids)
	}
	return ids, nil
}

// idCache is a bounded map of immutable id lists; when full it starts over.
type idCache struct {
	mu  sync.Mutex
	m   map[string][]string
	max int
}

func newIDCache(limit int) *idCache { return &idCache{m: map[string][]string{}, max: limit} }

func (c *idCache) get(k string) ([]string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok
}

func (c *idCache) put(k string, v []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		c.m = map[string][]string{}
	}
	c.m[k] = v
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

// tallyOf pairs option ids (in display order) with released counts.
func tallyOf(pollID string, version, total int, closed bool, optionIDs []string, counts []int) Tally {
	t := Tally{PollID: pollID, Version: version, TotalVotes: total, IsClosed: closed, Options: make([]OptionCount, len(optionIDs))}
	for i, id := range optionIDs {
		t.Options[i] = OptionCount{OptionID: id, VoteCount: countAt(counts, i+1)}
	}
	return t
}

// Tally returns a poll's current released tally (no access check: callers check rights).
func (s *Store) Tally(ctx context.Context, pollID string) (Tally, error) {
	db := s.conn(ctx)
	var p struct {
		ReleasedTotal   int
		ReleasedVersion int
		ReleasedCounts  string
		ClosedAt        *time.Time
	}
	if err := db.Raw(`SELECT released_total, released_version, released_counts, closed_at FROM polls WHERE id = ?`, pollID).
		Take(&p).Error; err != nil {
		return Tally{}, notFound(err, ErrPollNotFound)
	}
	counts, err := parseCounts(p.ReleasedCounts)
	if err != nil {
		return Tally{}, err
	}
	ids, err := s.optionIDs(db, pollID)
	if err != nil {
		return Tally{}, err
	}
	return tallyOf(pollID, p.ReleasedVersion, p.ReleasedTotal, p.ClosedAt != nil, ids, counts), nil
}

// PollAudit is a poll's exact bookkeeping, for invariant checks: VoteTotal, the sum of the exact
// per-option counts and the number of participants must always agree.
type PollAudit struct {
	VoteTotal    int
	CountSum     int
	Participants int
	Counts       []int // exact, by display order
}

// AuditPoll reads a poll's exact counts. It is for operators and tests; never serve it to a client.
func (s *Store) AuditPoll(ctx context.Context, pollID string) (PollAudit, error) {
	db := s.conn(ctx)
	var p struct {
		VoteTotal  int
		VoteCounts string
	}
	if err := db.Raw(`SELECT vote_total, vote_counts FROM polls WHERE id = ?`, pollID).Take(&p).Error; err != nil {
		return PollAudit{}, notFound(err, ErrPollNotFound)
	}
	counts, err := parseCounts(p.VoteCounts)
	if err != nil {
		return PollAudit{}, err
	}
	a := PollAudit{VoteTotal: p.VoteTotal, Counts: counts}
	for _, c := range counts {
		a.CountSum += c
	}
	var n int64
	err = db.Raw(`SELECT count(*) FROM poll_participants WHERE poll_id = ?`, pollID).Scan(&n).Error
	a.Participants = int(n)
	return a, err
}

// ClosePoll closes a poll, releases its exact final tally and writes its result notifications
// (see CloseAndNotify). It is idempotent: only the first caller, on any replica, gets closed ==
// true.
func (s *Store) ClosePoll(ctx context.Context, pollID string) (closed bool, err error) {
	c, err := s.CloseAndNotify(ctx, pollID)
	return c.Closed, err
}

func (s *Store) closePollTx(tx *gorm.DB, pollID string, now time.Time) (bool, error) {
	res := tx.Exec(`UPDATE polls SET closed_at = ?, released_total = vote_total, released_counts = vote_counts,
		released_version = released_version + 1 WHERE id = ? AND closed_at IS NULL`, now, pollID)
	return res.RowsAffected == 1, res.Error
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
