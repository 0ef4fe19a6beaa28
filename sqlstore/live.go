package sqlstore

import (
	"context"

	"circly"
)

// The reads behind live subscriptions: the same rights as REST, fewer columns.

// WatchPoll checks that userID may watch a poll (an active member of its circle) and returns
// the poll's circle, and whether the poll is due to be closed (past its deadline, still open).
func (s *Store) WatchPoll(ctx context.Context, userID, pollID string) (circleID string, due bool, err error) {
	r, err := s.pollForViewer(ctx, userID, pollID)
	if err != nil {
		return "", false, err
	}
	return r.CircleID, circly.Poll{ClosedAt: r.ClosedAt, Deadline: r.Deadline}.Due(s.Now()), nil
}

// WatchCircle checks that userID is an active member of the circle.
func (s *Store) WatchCircle(ctx context.Context, userID, circleID string) error {
	_, err := s.circleFor(s.conn(ctx), circleID, userID)
	return err
}

// CircleLiveState reads a circle's member count and open polls (no access check: callers
// check rights).
func (s *Store) CircleLiveState(ctx context.Context, circleID string) (circly.CircleLive, error) {
	db := s.conn(ctx)
	out := circly.CircleLive{CircleID: circleID}
	var n []int
	if err := db.Raw(`SELECT member_count FROM circles WHERE id = ? AND deleted_at IS NULL`, circleID).Scan(&n).Error; err != nil {
		return out, err
	}
	if len(n) == 0 {
		return out, circly.ErrCircleNotFound
	}
	out.MemberCount = n[0]
	ids := []string{}
	err := db.Raw(`SELECT p.id FROM polls p WHERE p.circle_id = ? AND p.closed_at IS NULL AND `+visiblePoll+`
		ORDER BY p.created_at, p.id`, circleID).Scan(&ids).Error
	out.OpenPollIDs = ids
	return out, err
}

// PollResults ranks a poll's released tally with no access check, also for a poll whose circle
// was deleted: it is what a poll_closed frame carries to the poll's watchers.
func (s *Store) PollResults(ctx context.Context, pollID string) (circly.Results, error) {
	db := s.conn(ctx)
	var r pollRow
	err := db.Raw(`SELECT p.id, p.circle_id, p.creator_member_id, p.template_id, p.question_text, p.deadline,
		p.created_at, p.closed_at, p.released_total, p.released_version, p.released_counts
		FROM polls p WHERE p.id = ?`, pollID).Take(&r).Error
	if err != nil {
		return circly.Results{}, notFound(err, circly.ErrPollNotFound)
	}
	counts, err := parseCounts(r.ReleasedCounts)
	if err != nil {
		return circly.Results{}, err
	}
	p := r.view()
	if p.Options, err = s.options(db, pollID, "", counts); err != nil {
		return circly.Results{}, err
	}
	return circly.Rank(p), nil
}
