package app

import (
	"context"

	"circly"
)

// PollClosedEventJSON is the data of a poll_closed event on circle:<id>.
type PollClosedEventJSON struct {
	PollID     string `json:"poll_id"`
	CircleID   string `json:"circle_id"`
	TotalVotes int    `json:"total_votes"`
}

// ClosePoll closes a poll past its deadline: one transaction releases the exact final tally and
// writes the poll_result and picked notifications; then the final results go out on poll:<id>,
// a poll_closed event on circle:<id> and each notification on its user:<id>. The close job and
// the lazy close of a read both come here, and the store's conditional update lets exactly one
// caller on any replica close (and announce) a poll; the others get closed == false.
func (s *Service) ClosePoll(ctx context.Context, pollID string) (closed bool, notifications int, err error) {
	c, err := s.CloseAndNotify(ctx, pollID)
	if err != nil || !c.Closed {
		return false, 0, err
	}
	if c.Hidden {
		return true, 0, nil // members see a hidden poll nowhere: its close is announced nowhere
	}
	s.publish(ctx, PollClosedMessage(c.Results))
	s.publish(ctx, CircleEventMessage(c.CircleID, EventPollClosed,
		PollClosedEventJSON{PollID: c.PollID, CircleID: c.CircleID, TotalVotes: c.Results.TotalVotes}))
	s.announceNotifications(ctx, c.Notifications)
	return true, len(c.Notifications), nil
}

// The reads below close a poll they find past its deadline before they show it (the close job
// may not have reached it yet), through ClosePoll, so that a lazy close is announced like the
// job's.

// GetPoll returns a poll the user may see, closed first when it is due.
func (s *Service) GetPoll(ctx context.Context, userID, pollID string) (circly.Poll, error) {
	p, err := s.Store.GetPoll(ctx, userID, pollID)
	if err != nil || !p.Due(s.Now()) {
		return p, err
	}
	if _, _, err := s.ClosePoll(ctx, pollID); err != nil {
		return circly.Poll{}, err
	}
	return s.Store.GetPoll(ctx, userID, pollID)
}

// GetResults ranks a poll's released tally (closing the poll first when it is due).
func (s *Service) GetResults(ctx context.Context, userID, pollID string) (circly.Results, error) {
	if s.ResultsCache != nil {
		return s.cachedResults(ctx, userID, pollID)
	}
	p, err := s.GetPoll(ctx, userID, pollID)
	if err != nil {
		return circly.Results{}, err
	}
	return circly.Rank(p), nil
}

// ListPolls lists the polls of the user's circles, after closing those that are due, so a list
// never shows a finished poll as open.
func (s *Service) ListPolls(ctx context.Context, userID string, f circly.PollFilter, page circly.Page) ([]circly.Poll, int64, error) {
	due, err := s.DuePollsOf(ctx, userID)
	if err != nil {
		return nil, 0, err
	}
	for _, id := range due {
		if _, _, err := s.ClosePoll(ctx, id); err != nil {
			return nil, 0, err
		}
	}
	return s.Store.ListPolls(ctx, userID, f, page)
}

// watchPoll is the live subscription's access check: the same rights as GetPoll, and the same
// close of a due poll, so that its snapshot is the final one.
func (s *Service) watchPoll(ctx context.Context, userID, pollID string) (circleID string, err error) {
	circleID, due, err := s.WatchPoll(ctx, userID, pollID)
	if err != nil || !due {
		return circleID, err
	}
	_, _, err = s.ClosePoll(ctx, pollID)
	return circleID, err
}
