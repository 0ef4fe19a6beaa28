package app

import (
	"encoding/json"

	"circly"
	"circly/frames"
	"circly/realtime"
)

// The messages publishers send: each names its frame type and carries its data, encoded once
// here; every replica's hub wraps them into the client frame (package frames).

func encode(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic("app: frame data does not encode: " + err.Error()) // only plain structs go in
	}
	return b
}

// TallyMessage is a released tally on poll:<id>, in both forms (full and compact).
func TallyMessage(t circly.Tally) realtime.Message {
	ch := realtime.PollChannel(t.PollID)
	return realtime.Message{Channel: ch, Kind: realtime.KindTally, Version: t.Version,
		Type: frames.TypeTally, Data: encode(TallyView(t)), Compact: compactTally(t)}
}

// PollClosedMessage is the final results on poll:<id>: ranked in the full form, the counts in
// display order in the compact one. Results without display-order counts (read from a cache
// entry written before they existed) go out in the full form only: compact connections then
// get that, which clients tell apart by its shape.
func PollClosedMessage(r circly.Results) realtime.Message {
	ch := realtime.PollChannel(r.PollID)
	m := realtime.Message{Channel: ch, Kind: realtime.KindFinal, Version: r.Version,
		Type: frames.TypePollClosed, Data: encode(ResultsView(r))}
	if len(r.Counts) == len(r.Results) {
		m.Compact = frames.CompactTally{Version: r.Version, TotalVotes: r.TotalVotes, Counts: r.Counts, IsClosed: r.IsClosed}.Encode()
	}
	return m
}

// compactTally is a tally's compact form: its counts in display order.
func compactTally(t circly.Tally) json.RawMessage {
	counts := make([]int, len(t.Options))
	for i, o := range t.Options {
		counts[i] = o.VoteCount
	}
	return frames.CompactTally{Version: t.Version, TotalVotes: t.TotalVotes, Counts: counts, IsClosed: t.IsClosed}.Encode()
}

// tallyOptionIDs lists a tally's option ids in display order: the fixed part of the compact
// snapshot.
func tallyOptionIDs(t circly.Tally) json.RawMessage {
	ids := make([]string, len(t.Options))
	for i, o := range t.Options {
		ids[i] = o.OptionID
	}
	return frames.OptionIDs(ids)
}

// Circle events of the contract.
const (
	EventPollCreated   = "poll_created"
	EventPollClosed    = "poll_closed"
	EventMemberJoined  = "member_joined"
	EventMemberLeft    = "member_left"
	EventMemberRemoved = "member_removed"
	EventCircleDeleted = "circle_deleted"
)

// CircleEventMessage is an event on circle:<id>; data must never name a voter's choice.
func CircleEventMessage(circleID, event string, data any) realtime.Message {
	ch := realtime.CircleChannel(circleID)
	return realtime.Message{Channel: ch, Kind: realtime.KindEvent, Type: frames.TypeEvent, Event: event, Data: encode(data)}
}

// NotificationMessage is a new in-app notification on user:<id>.
func NotificationMessage(userID string, notification any) realtime.Message {
	ch := realtime.UserChannel(userID)
	return realtime.Message{Channel: ch, Kind: realtime.KindEvent, Type: frames.TypeNotification, Data: encode(notification)}
}

// RemovalMessage tells every replica that userID lost access to circleID and its polls; an
// empty userID means every user (the circle was deleted).
func RemovalMessage(userID, circleID string) realtime.Message {
	return realtime.Message{Channel: realtime.ControlChannel, Kind: realtime.KindRemoval, UserID: userID, CircleID: circleID}
}

// PollDeletedMessage tells every replica that a poll was deleted: its watchers are unsubscribed.
func PollDeletedMessage(pollID, circleID string) realtime.Message {
	return realtime.Message{Channel: realtime.ControlChannel, Kind: realtime.KindEnded, Target: realtime.PollChannel(pollID),
		CircleID: circleID, Reason: realtime.EndedDeleted}
}

// AccountGoneMessage tells every replica that userID's account was deleted: its live
// connections end and its tokens stop working there at once.
func AccountGoneMessage(userID string) realtime.Message {
	return realtime.Message{Channel: realtime.ControlChannel, Kind: realtime.KindRemoval, UserID: userID}
}
