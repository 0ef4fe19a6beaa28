package app

import (
	"context"
	"encoding/json"
	"strconv"
	"sync/atomic"
	"time"

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
	b, ok, readErr := s.ResultsCache.Get(ctx, key)
	switch {
	case readErr != nil:
		metrics.ResultsCache.WithLabelValues(metrics.ResultError).Inc()
		s.warnCache("results cache read failed; reading the database", pollID, readErr)
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
	if readErr != nil {
		return r, nil // Redis is failing: one timeout per read is enough
	}
	if b, err := json.Marshal(r); err == nil {
		if err := s.ResultsCache.Set(ctx, key, b); err != nil {
			s.warnCache("results cache write failed", pollID, err)
		}
	}
	return r, nil
}

// lastCacheWarn keeps a Redis outage to one warn line per cacheWarnEvery (the metric counts all).
var lastCacheWarn atomic.Int64

const cacheWarnEvery = 10 * time.Second

func (s *Service) warnCache(msg, pollID string, err error) {
	now, last := time.Now().UnixNano(), lastCacheWarn.Load()
	if now-last < int64(cacheWarnEvery) || !lastCacheWarn.CompareAndSwap(last, now) {
		return
	}
	s.Log.Warn(msg, zap.String("poll_id", pollID), zap.Error(err))
}
