package app

import (
	"context"
	"time"

	"circly"

	"go.uber.org/zap"
)

// The circle use cases that announce themselves live. Each runs the store change and, once it
// has committed, publishes what watchers need; nothing here names a voter or a choice.

// PollCreatedJSON is the data of a poll_created event.
type PollCreatedJSON struct {
	PollID       string    `json:"poll_id"`
	CircleID     string    `json:"circle_id"`
	QuestionText string    `json:"question_text"`
	Deadline     time.Time `json:"deadline"`
	CreatedAt    time.Time `json:"created_at"`
}

// MemberEventJSON is the data of member_joined, member_left and member_removed.
type MemberEventJSON struct {
	CircleID string `json:"circle_id"`
	MemberID string `json:"member_id"`
	Nickname string `json:"nickname"`
}

// CircleDeletedJSON is the data of circle_deleted.
type CircleDeletedJSON struct {
	CircleID      string   `json:"circle_id"`
	ClosedPollIDs []string `json:"closed_poll_ids"`
}

// CreatePoll opens a poll and announces it on its circle; its poll_start notifications are
// written in the poll's transaction and announced on each recipient's user: channel.
func (s *Service) CreatePoll(ctx context.Context, userID string, req circly.CreatePollRequest) (circly.Poll, error) {
	if err := s.sanctioned(ctx, userID); err != nil {
		return circly.Poll{}, err
	}
	p, notes, err := s.CreatePollWithNotifications(ctx, userID, req)
	if err != nil {
		return p, err
	}
	s.announceNotifications(ctx, notes)
	s.publish(ctx, CircleEventMessage(p.CircleID, EventPollCreated, PollCreatedJSON{
		PollID: p.ID, CircleID: p.CircleID, QuestionText: p.QuestionText, Deadline: p.Deadline, CreatedAt: p.CreatedAt}))
	return p, nil
}

// JoinCircle adds the user to a circle and announces the new member.
func (s *Service) JoinCircle(ctx context.Context, userID string, req circly.JoinRequest) (circly.Circle, circly.Member, error) {
	if err := s.sanctioned(ctx, userID); err != nil {
		return circly.Circle{}, circly.Member{}, err
	}
	c, m, err := s.Store.JoinCircle(ctx, userID, req)
	if err != nil {
		return c, m, err
	}
	s.publish(ctx, CircleEventMessage(c.ID, EventMemberJoined, MemberEventJSON{CircleID: c.ID, MemberID: m.ID, Nickname: m.Nickname}))
	return c, m, nil
}

// LeaveCircle ends the user's membership, announces it and ends the user's live
// subscriptions to the circle and its polls on every replica.
func (s *Service) LeaveCircle(ctx context.Context, userID, circleID string) (circly.Member, error) {
	m, err := s.Store.LeaveCircle(ctx, userID, circleID)
	if err != nil {
		return m, err
	}
	s.publish(ctx, RemovalMessage(userID, circleID))
	s.publish(ctx, CircleEventMessage(circleID, EventMemberLeft, MemberEventJSON{CircleID: circleID, MemberID: m.ID, Nickname: m.Nickname}))
	return m, nil
}

// RemoveMember ends another member's membership (creator only), ends the removed user's live
// subscriptions on every replica and announces it.
func (s *Service) RemoveMember(ctx context.Context, userID, circleID, memberID string) (circly.Member, error) {
	m, err := s.Store.RemoveMember(ctx, userID, circleID, memberID)
	if err != nil {
		return m, err
	}
	if m.UserID != nil {
		s.publish(ctx, RemovalMessage(*m.UserID, circleID))
	}
	s.publish(ctx, CircleEventMessage(circleID, EventMemberRemoved, MemberEventJSON{CircleID: circleID, MemberID: m.ID, Nickname: m.Nickname}))
	return m, nil
}

// DeletePoll deletes a poll (creator, within a day of creation) and ends its live
// subscriptions on every replica.
func (s *Service) DeletePoll(ctx context.Context, userID, pollID string) error {
	circleID, err := s.Store.DeletePoll(ctx, userID, pollID)
	if err != nil {
		return err
	}
	s.publish(ctx, PollDeletedMessage(pollID, circleID))
	return nil
}

// DeleteAccount deletes the user's account, ends its live connections on every replica and
// tells each circle it leaves behind that the member left.
func (s *Service) DeleteAccount(ctx context.Context, userID string) error {
	ended, err := s.DeleteUser(ctx, userID)
	if err != nil {
		return err
	}
	s.announceAccountGone(ctx, userID, ended)
	return nil
}

// announceAccountGone ends a deleted account's live connections on every replica and tells
// each circle it left behind that the member left.
func (s *Service) announceAccountGone(ctx context.Context, userID string, ended []circly.EndedMembership) {
	s.publish(ctx, AccountGoneMessage(userID))
	for _, m := range ended {
		if m.CircleDeleted {
			continue // the user was its last member: nobody else can be watching
		}
		s.publish(ctx, CircleEventMessage(m.CircleID, EventMemberLeft, MemberEventJSON{CircleID: m.CircleID, MemberID: m.MemberID, Nickname: m.Nickname}))
	}
}

// DeleteCircle deletes a circle, sends the final results of the polls it closed to their
// watchers, announces the deletion and then ends every subscription to the circle.
func (s *Service) DeleteCircle(ctx context.Context, userID, circleID string) ([]string, error) {
	closed, err := s.Store.DeleteCircle(ctx, userID, circleID)
	if err != nil {
		return closed, err
	}
	for _, id := range closed {
		r, err := s.PollResults(context.WithoutCancel(ctx), id)
		if err != nil {
			s.Log.Warn("final results of a poll closed with its circle", zap.String("poll_id", id), zap.Error(err))
			continue
		}
		s.publish(ctx, PollClosedMessage(r))
	}
	s.publish(ctx, CircleEventMessage(circleID, EventCircleDeleted, CircleDeletedJSON{CircleID: circleID, ClosedPollIDs: closed}))
	s.publish(ctx, RemovalMessage("", circleID))
	return closed, nil
}
