package app

import (
	"context"

	"go.uber.org/zap"
)

// AnnouncePollHidden tells every replica's watchers of a poll that it is gone for them: a
// moderator's uphold hid it. Minimal version until the member-facing half of issue 18 lands
// (it owns this announcement and its "hidden" reason); it publishes what a deletion does.
func (s *Service) AnnouncePollHidden(ctx context.Context, pollID string) {
	circleID, err := s.PollCircle(ctx, pollID)
	if err != nil {
		s.Log.Warn("announce a hidden poll", zap.String("poll_id", pollID), zap.Error(err))
		return
	}
	s.publish(ctx, PollDeletedMessage(pollID, circleID))
}
