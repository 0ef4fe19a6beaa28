// Package app holds the use cases that both the HTTP handlers and the scheduled jobs set off:
// cast a vote and release its tally, close a poll and announce it, announce circle events. The
// store keeps the invariants; app adds what must follow a committed change (publishing live
// messages), so that no caller can forget it and nothing is written twice.
package app

import (
	"context"

	"circly"
	"circly/metrics"
	"circly/realtime"
	"circly/sqlstore"

	"go.uber.org/zap"
)

// Service is the use-case layer shared by server and jobs, and their only door to the data: a
// read or a change that needs nothing more than the store passes through to it (the embedded
// Store); one that must be announced, or that closes a due poll first, is a method of its own.
type Service struct {
	*sqlstore.Store
	Broker realtime.Broker
	Log    *zap.Logger
	retry  republisher // messages whose publication failed, retried in order

	// ResultsCache, when set, serves GetResults' ranking of an unchanged version (results_cache.go).
	ResultsCache ResultsCache

	// Ladder is the sanctions ladder (SANCTION_LADDER); nil: circly.DefaultLadder.
	Ladder circly.Ladder
}

// New returns a Service; a nil broker publishes nowhere (tests of the REST surface alone).
func New(store *sqlstore.Store, broker realtime.Broker, log *zap.Logger) *Service {
	if log == nil {
		log = zap.NewNop()
	}
	return &Service{Store: store, Broker: broker, Log: log}
}

// publish hands m to the broker. The change it announces has committed already, so a failure
// is logged, counted and retried in the background (republish.go), never returned.
func (s *Service) publish(ctx context.Context, m realtime.Message) {
	if s.Broker == nil {
		return
	}
	if s.busy() {
		s.enqueue(m) // behind earlier failed ones, to keep the order
		return
	}
	if err := s.Broker.Publish(context.WithoutCancel(ctx), m); err != nil {
		metrics.RealtimePublish.WithLabelValues("error").Inc()
		s.Log.Warn("realtime publish failed; retrying in the background", zap.String("channel", m.Channel), zap.Error(err))
		s.enqueue(m)
		return
	}
	metrics.RealtimePublish.WithLabelValues("ok").Inc()
}

// Vote records a ballot and, when it released a new tally, publishes that tally.
func (s *Service) Vote(ctx context.Context, userID string, req circly.VoteRequest) (circly.VoteResult, error) {
	res, err := s.Store.Vote(ctx, userID, req)
	if err != nil {
		return res, err
	}
	if res.OpenErr != nil {
		// The ballot is recorded; its batch waits for the next vote, the opening job or the close.
		s.Log.Error("opening a batch of ballots failed", zap.String("poll_id", req.PollID), zap.Error(res.OpenErr))
	}
	if res.Released && !res.Replayed {
		s.publish(ctx, TallyMessage(res.Tally))
	}
	return res, nil
}

// OpenBallots opens a poll's waiting ballots when a batch is due, and publishes the tally that
// came out: the opening job's step for batches whose vote could not open them.
func (s *Service) OpenBallots(ctx context.Context, pollID string) (released bool, err error) {
	t, released, err := s.Store.OpenBallots(ctx, pollID)
	if err == nil && released {
		s.publish(ctx, TallyMessage(t))
	}
	return released, err
}
