package app

import (
	"context"
	"strconv"

	"circly"
	"circly/metrics"
)

// ladder is the sanctions ladder in force (SANCTION_LADDER), the default when none was set.
func (s *Service) ladder() circly.Ladder {
	if len(s.Ladder) > 0 {
		return s.Ladder
	}
	return circly.DefaultLadder
}

// Decide takes a moderator's decision (one transaction with its audit row) and then announces
// what changed: a poll hidden or deleted leaves its watchers on every replica, a sanctioned
// member hears of it on their user: channel, a removed account ends everywhere.
func (s *Service) Decide(ctx context.Context, d circly.Decision) (circly.DecisionResult, error) {
	r, err := s.Store.Decide(ctx, d, s.ladder())
	if err != nil {
		return r, err
	}
	metrics.ModerationDecisions.WithLabelValues(d.Action, d.TargetType).Inc()
	switch {
	case r.PollHidden:
		s.AnnouncePollHidden(ctx, d.TargetID, r.CircleID)
	case r.PollDeleted:
		s.publish(ctx, PollDeletedMessage(d.TargetID, r.CircleID))
	}
	if r.Sanction != nil {
		metrics.SanctionsApplied.WithLabelValues(strconv.Itoa(r.Sanction.Rung)).Inc()
		if r.Sanction.Step.Remove {
			s.announceAccountGone(ctx, r.Sanction.UserID, r.Removed)
		}
	}
	s.announceNotifications(ctx, r.Notifications)
	return r, nil
}

// sanctioned refuses what a sanction forbids (creating polls, joining circles) until it ends.
func (s *Service) sanctioned(ctx context.Context, userID string) error {
	active, err := s.ActiveSanction(ctx, userID)
	if err != nil || active == nil {
		return err
	}
	return circly.SanctionError(*active)
}
