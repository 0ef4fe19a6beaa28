// Package realtime is the contract for carrying live messages between replicas: the Broker
// interface, the message and channel types, and the in-memory broker of the embedded mode (the
// Redis one is package redisbroker). It imports nothing beyond the standard library.
package realtime

import (
	"context"
	"encoding/json"
	"strings"
)

// Kind says how a receiver treats a message.
type Kind uint8

const (
	// KindTally is state: receivers keep only the highest Version per channel and may skip
	// intermediate ones (conflation).
	KindTally Kind = iota + 1
	// KindEvent is an ordered event (poll_created, member_left, notification, ...): never
	// conflated, delivered in order or the slow connection is closed.
	KindEvent
	// KindFinal is the last state of a channel (poll_closed): it carries a Version like a tally
	// and must be delivered, after any tally of a lower version.
	KindFinal
	// KindRemoval is a control message: UserID lost access to CircleID, so every replica ends
	// that user's subscriptions to the circle and its polls. Without UserID, everyone lost it
	// (the circle was deleted); without CircleID, the account was deleted and every replica
	// ends its connections.
	KindRemoval
	// KindEnded is a control message: the channel Target, of circle CircleID, is gone for
	// everyone (its poll was deleted, or hidden by reports: Reason), so every replica ends its
	// subscriptions to it.
	KindEnded
)

// ControlChannel is subscribed by every replica for its whole life: removals travel on it
// because the replica holding the removed user's connection may watch none of the circle's
// channels.
const ControlChannel = "control"

// Message is one publication. A data message (tally, final, event) carries the frame's type,
// its event name for circle events, and its data, encoded once by the publisher; each replica's
// hub wraps them into the client frame once per message, whatever its number of watchers.
type Message struct {
	Channel string          `json:"ch"`
	Kind    Kind            `json:"k"`
	Version int             `json:"v,omitempty"`
	Type    string          `json:"ty,omitempty"` // the client frame's type: tally, poll_closed, event, notification
	Event   string          `json:"e,omitempty"`  // circle events: which one
	Data    json.RawMessage `json:"d,omitempty"`
	// Compact is the data of the compact tally form (tallies and final results on poll
	// channels; see package frames), for the connections that asked for it.
	Compact  json.RawMessage `json:"dc,omitempty"`
	UserID   string          `json:"u,omitempty"`
	CircleID string          `json:"c,omitempty"`
	Target   string          `json:"t,omitempty"` // KindEnded: the channel that ended
	Reason   string          `json:"r,omitempty"` // KindEnded: why, as watchers are told; empty: EndedDeleted
}

// Reasons a KindEnded message gives, sent to each watcher in its `unsubscribed` frame.
const (
	EndedDeleted = "deleted" // the poll was deleted
	EndedHidden  = "hidden"  // the poll was hidden by reports
)

// Handler receives what a broker delivers. Both methods must return quickly (hand off, never
// block on a client).
type Handler interface {
	// HandleMessage is called for each message on a subscribed channel.
	HandleMessage(Message)
	// HandleReconnect is called when the link to the broker was lost and is back: messages may
	// have been missed, so the receiver re-reads the state of what it serves.
	HandleReconnect()
}

// PartialHandler is a Handler that can re-read part of what it serves. A sharded broker whose
// one shard recovered names the channels that shard carries, so a failed node that served
// several shards does not make the receiver re-read everything once per shard.
type PartialHandler interface {
	Handler
	// HandleReconnectOf is HandleReconnect for the channels carries reports true for.
	HandleReconnectOf(carries func(channel string) bool)
}

// Broker moves messages between replicas.
type Broker interface {
	// Start begins delivering messages of subscribed channels to h. It is called once.
	Start(ctx context.Context, h Handler) error
	// Publish sends m to every replica subscribed to m.Channel (this one included).
	Publish(ctx context.Context, m Message) error
	// Subscribe and Unsubscribe change the channels this replica receives. The hub calls them
	// when the first local watcher of a channel arrives and when the last one leaves.
	Subscribe(ctx context.Context, channels ...string) error
	Unsubscribe(ctx context.Context, channels ...string) error
	// Close stops delivery and releases the connection.
	Close() error
}

// Channel prefixes of the live protocol.
const (
	PollPrefix   = "poll:"
	CirclePrefix = "circle:"
	UserPrefix   = "user:"
)

// PollChannel, CircleChannel and UserChannel name the channels of the contract.
func PollChannel(id string) string   { return PollPrefix + id }
func CircleChannel(id string) string { return CirclePrefix + id }
func UserChannel(id string) string   { return UserPrefix + id }

// SplitChannel returns a channel's prefix ("poll:", "circle:", "user:") and id, ok false when
// the prefix is unknown.
func SplitChannel(ch string) (prefix, id string, ok bool) {
	for _, p := range []string{PollPrefix, CirclePrefix, UserPrefix} {
		if rest, found := strings.CutPrefix(ch, p); found {
			return p, rest, true
		}
	}
	return "", "", false
}
