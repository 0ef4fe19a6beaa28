package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"circly"
	"circly/frames"
	"circly/realtime"
	"circly/sqlstore"
)

// LiveAccess answers the hub's questions through the app: may this user watch that channel
// (hub.Authorizer), and what is the channel's state now (its SnapshotSource).
type LiveAccess struct {
	App *Service
}

// Authorize answers the hub's Authorizer question with the rights of the matching REST reads.
func (a *LiveAccess) Authorize(ctx context.Context, userID, channel string) (string, error) {
	prefix, id, _ := realtime.SplitChannel(channel)
	switch prefix {
	case realtime.PollPrefix:
		circleID, err := a.App.watchPoll(ctx, userID, id)
		return circleID, frameError(err)
	case realtime.CirclePrefix:
		return id, frameError(a.App.WatchCircle(ctx, userID, id))
	case realtime.UserPrefix:
		if id != userID {
			return "", &frames.Error{Code: frames.CodeForbidden, Message: "you may watch only your own user channel"}
		}
		return "", nil
	}
	return "", &frames.Error{Code: frames.CodeInvalidChannel, Message: "unknown channel"}
}

// CircleSnapshotJSON is the data of a circle channel's `subscribed` frame.
type CircleSnapshotJSON struct {
	CircleID    string   `json:"circle_id"`
	MemberCount int      `json:"member_count"`
	OpenPollIDs []string `json:"open_poll_ids"`
}

// UserSnapshotJSON is the data of a user channel's `subscribed` frame.
type UserSnapshotJSON struct {
	UnreadCount int `json:"unread_count"`
}

// Snapshot answers the hub's SnapshotSource question: the channel's state now.
func (a *LiveAccess) Snapshot(ctx context.Context, channel string) (frames.Snapshot, error) {
	prefix, id, _ := realtime.SplitChannel(channel)
	var v any
	switch prefix {
	case realtime.PollPrefix:
		t, err := a.App.Tally(ctx, id)
		if err != nil {
			return frames.Snapshot{}, frameError(err)
		}
		return pollSnapshot(t), nil
	case realtime.CirclePrefix:
		c, err := a.App.CircleLiveState(ctx, id)
		if err != nil {
			return frames.Snapshot{}, frameError(err)
		}
		v = CircleSnapshotJSON{CircleID: c.CircleID, MemberCount: c.MemberCount, OpenPollIDs: c.OpenPollIDs}
	case realtime.UserPrefix:
		n, err := a.App.UnreadNotificationCount(ctx, id)
		if err != nil {
			return frames.Snapshot{}, frameError(err)
		}
		v = UserSnapshotJSON{UnreadCount: n}
	default:
		return frames.Snapshot{}, &frames.Error{Code: frames.CodeInvalidChannel, Message: "unknown channel"}
	}
	b, err := json.Marshal(v)
	return frames.Snapshot{Data: b}, err
}

// pollSnapshot is a poll channel's snapshot in both forms.
func pollSnapshot(t circly.Tally) frames.Snapshot {
	return frames.Snapshot{Version: t.Version, Data: encode(TallyView(t)), OptionIDs: tallyOptionIDs(t), Compact: compactTally(t)}
}

// frameError turns the store's client errors into error frames; others pass through (the hub
// logs them and answers INTERNAL_ERROR).
func frameError(err error) error {
	var me *circly.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &me):
		return &frames.Error{Code: string(me.Code), Message: me.Message}
	case sqlstore.Unavailable(err):
		return fmt.Errorf("%w: %w", frames.ErrUnavailable, err)
	}
	return err
}
