package app

import "context"

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
	c, err := s.Store.CloseAndNotify(ctx, pollID)
	if err != nil || !c.Closed {
		return false, 0, err
	}
	s.publish(ctx, PollClosedMessage(c.Results))
	s.publish(ctx, CircleEventMessage(c.CircleID, EventPollClosed,
		PollClosedEventJSON{PollID: c.PollID, CircleID: c.CircleID, TotalVotes: c.Results.TotalVotes}))
	s.announceNotifications(ctx, c.Notifications)
	return true, len(c.Notifications), nil
}

// closeForRead is the store's closer for polls a read finds past their deadline.
func (s *Service) closeForRead(ctx context.Context, pollID string) error {
	_, _, err := s.ClosePoll(ctx, pollID)
	return err
}
