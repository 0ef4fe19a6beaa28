package sqlstore

import (
	"context"

	"circly"
)

// PollHead is GetPoll without the options: the access check, the released version and counts,
// the closed state, in one query. The results cache keys on its version and uses its counts, so
// a cached ranking is always that of exactly this row.
func (s *Store) PollHead(ctx context.Context, userID, pollID string) (circly.Poll, []int, error) {
	r, err := s.pollForViewer(ctx, userID, pollID)
	if err != nil {
		return circly.Poll{}, nil, err
	}
	counts, err := parseCounts(r.ReleasedCounts)
	if err != nil {
		return circly.Poll{}, nil, err
	}
	return r.view(), counts, nil
}

// PollOptions lists a poll's options with the released counts given (from PollHead); an option
// never changes once the poll exists, only its count does.
func (s *Store) PollOptions(ctx context.Context, userID, pollID string, counts []int) ([]circly.Option, error) {
	return s.options(s.conn(ctx), pollID, userID, counts)
}
