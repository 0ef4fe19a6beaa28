package app

import (
	"context"

	"circly"
	"circly/metrics"
	"circly/realtime"

	"go.uber.org/zap"
)

// CreateReport files a report. When it brings its target to a report threshold the store has
// hidden the poll (restricted the membership) in the report's transaction; the hide is then
// counted and announced here. The reporter's answer is the same either way: a reporter learns
// nothing about what their report set off, and the reported never learns who reported.
func (s *Service) CreateReport(ctx context.Context, userID string, r circly.NewReport) (circly.Report, error) {
	rep, hide, err := s.FileReport(ctx, userID, r)
	if err != nil {
		return rep, err
	}
	metrics.Reports.WithLabelValues(r.Type).Inc()
	switch {
	case hide.PollID != "":
		metrics.AutoHides.WithLabelValues("poll").Inc()
		s.Log.Info("poll hidden by reports", zap.String("poll_id", hide.PollID), zap.String("circle_id", hide.CircleID))
		s.AnnouncePollHidden(ctx, hide.PollID, hide.CircleID)
	case hide.MemberID != "":
		metrics.AutoHides.WithLabelValues("user").Inc()
		s.Log.Info("member restricted by reports", zap.String("member_id", hide.MemberID), zap.String("circle_id", hide.CircleID))
	}
	return rep, nil
}

// AnnouncePollHidden ends every live subscription to a hidden poll of circleID, on every
// replica: each watcher gets `unsubscribed` with reason "hidden", and each replica drops the
// poll's cached grants and snapshot, so a new subscribe reads the store and is refused
// (POLL_NOT_FOUND). The caller has committed the hide (an auto-hide here, a moderator's uphold
// in the admin API) and knows the circle from it.
func (s *Service) AnnouncePollHidden(ctx context.Context, pollID, circleID string) {
	s.publish(ctx, PollHiddenMessage(pollID, circleID))
}

// PollHiddenMessage tells every replica that a poll was hidden: its watchers are unsubscribed.
func PollHiddenMessage(pollID, circleID string) realtime.Message {
	m := PollDeletedMessage(pollID, circleID)
	m.Reason = realtime.EndedHidden
	return m
}
