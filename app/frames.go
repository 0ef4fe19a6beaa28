package app

import (
	"encoding/json"

	"circly/models"
	"circly/realtime"
)

// The server → client frames of the live protocol that publishers build. Each is encoded once
// here and forwarded byte for byte by every replica's hub.

type dataFrame struct {
	Type    string `json:"type"`
	Channel string `json:"channel"`
	Event   string `json:"event,omitempty"`
	Data    any    `json:"data"`
}

func encode(f dataFrame) json.RawMessage {
	b, err := json.Marshal(f)
	if err != nil {
		panic("app: frame does not encode: " + err.Error()) // only plain structs go in
	}
	return b
}

// TallyMessage is a released tally on poll:<id>.
func TallyMessage(t models.Tally) realtime.Message {
	ch := realtime.PollChannel(t.PollID)
	return realtime.Message{Channel: ch, Kind: realtime.KindTally, Version: t.Version,
		Frame: encode(dataFrame{Type: "tally", Channel: ch, Data: TallyView(t)})}
}

// PollClosedMessage is the final results on poll:<id>.
func PollClosedMessage(r models.Results) realtime.Message {
	ch := realtime.PollChannel(r.PollID)
	return realtime.Message{Channel: ch, Kind: realtime.KindFinal, Version: r.Version,
		Frame: encode(dataFrame{Type: "poll_closed", Channel: ch, Data: ResultsView(r)})}
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
	return realtime.Message{Channel: ch, Kind: realtime.KindEvent,
		Frame: encode(dataFrame{Type: "event", Channel: ch, Event: event, Data: data})}
}

// NotificationMessage is a new in-app notification on user:<id>.
func NotificationMessage(userID string, notification any) realtime.Message {
	ch := realtime.UserChannel(userID)
	return realtime.Message{Channel: ch, Kind: realtime.KindEvent,
		Frame: encode(dataFrame{Type: "notification", Channel: ch, Data: notification})}
}

// RemovalMessage tells every replica that userID lost access to circleID and its polls; an
// empty userID means every user (the circle was deleted).
func RemovalMessage(userID, circleID string) realtime.Message {
	return realtime.Message{Channel: realtime.ControlChannel, Kind: realtime.KindRemoval, UserID: userID, CircleID: circleID}
}

// PollDeletedMessage tells every replica that a poll was deleted: its watchers are unsubscribed.
func PollDeletedMessage(pollID, circleID string) realtime.Message {
	return realtime.Message{Channel: realtime.ControlChannel, Kind: realtime.KindEnded, Target: realtime.PollChannel(pollID), CircleID: circleID}
}

// AccountGoneMessage tells every replica that userID's account was deleted: its live
// connections end and its tokens stop working there at once.
func AccountGoneMessage(userID string) realtime.Message {
	return realtime.Message{Channel: realtime.ControlChannel, Kind: realtime.KindRemoval, UserID: userID}
}
