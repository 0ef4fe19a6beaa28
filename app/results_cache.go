package app

import (
	"context"
	"encoding/json"
	"strconv"

	"circly"
	"circly/metrics"

	"go.uber.org/zap"
)

// ResultsCache holds ranked results shared by every member of a poll's circle (resultscache.Redis
// across replicas). Only that shared part is cached: the access check and the viewer's own
// fields are worked out per request.
type ResultsCache interface {
	Get(ctx context.Context, key string) ([]byte, bool, error)
	Set(ctx context.Context, key string, value []byte) error
}

// resultsKey names a poll's results at one released version in one state: the counts change
// only with the version, and closing changes the state, so an entry can never be stale.
func resultsKey(p circly.Poll) string {
	state := "open"
	if p.IsClosed {
		state = "closed"
	}
	return "results:" + p.ID + ":v" + strconv.Itoa(p.Version) + ":" + state
}

// cachedResults reads the poll's head (access check, version, state; closing it first when it
// is due), then serves the ranking of that version from the cache or ranks and stores it.
func (s *Service) cachedResults(ctx context.Context, userID, pollID string) (circly.Results, error) {
	head, counts, err := s.PollHead(ctx, userID, pollID)
	if err != nil {
		return circly.Results{}, err
	}
	if head.Due(s.Now()) {
		if _, _, err := s.ClosePoll(ctx, pollID); err != nil {
			return circly.Results{}, err
		}
		if head, counts, err = s.PollHead(ctx, userID, pollID); err != nil {
			return circly.Results{}, err
		}
	}
	key := resultsKey(head)
	b, ok, err := s.ResultsCache.Get(ctx, key)
	switch {
	case err != nil:
		metrics.ResultsCache.WithLabelValues(metrics.ResultError).Inc()
		s.Log.Warn("results cache read failed; reading the database", zap.String("poll_id", pollID), zap.Error(err))
	case ok:
		var r circly.Results
		if json.Unmarshal(b, &r) == nil {
			metrics.ResultsCache.WithLabelValues(metrics.CacheHit).Inc()
			return r, nil
		}
		metrics.ResultsCache.WithLabelValues(metrics.CacheMiss).Inc() // unreadable entry: overwritten below
	default:
		metrics.ResultsCache.WithLabelValues(metrics.CacheMiss).Inc()
	}
	if head.Options, err = s.PollOptions(ctx, userID, pollID, counts); err != nil {
		return circly.Results{}, err
	}
	r := circly.Rank(head)
	if b, err := json.Marshal(r); err == nil {
		if err := s.ResultsCache.Set(ctx, key, b); err != nil {
			s.Log.Warn("results cache write failed", zap.String("poll_id", pollID), zap.Error(err))
		}
	}
	return r, nil
}
