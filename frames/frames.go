// Package frames is the live protocol between a replica and its WebSocket clients, in one
// place: the frames clients send and their parser, the frames the server sends and their one
// encoder, the error codes of error frames, and the snapshot a subscription starts from. The
// hub speaks it; the app fills it (snapshots, data); nothing here knows of HTTP or SQL.
package frames

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
)

// Error codes of error frames (the contract's "Live updates" section). The app maps the
// domain's refusals onto them (a refusal's code is the same string).
const (
	CodeNotCircleMember = "NOT_CIRCLE_MEMBER"
	CodeForbidden       = "FORBIDDEN"
	CodePollNotFound    = "POLL_NOT_FOUND"
	CodeCircleNotFound  = "CIRCLE_NOT_FOUND"
	CodeInvalidChannel  = "INVALID_CHANNEL"
	CodeTooManyChannels = "TOO_MANY_CHANNELS"
	CodeUnknownFrame    = "UNKNOWN_FRAME"
	CodeInvalidFormat   = "INVALID_FORMAT"
	CodeInternal        = "INTERNAL_ERROR"
	CodeUnavailable     = "SERVICE_UNAVAILABLE" // the database is unreachable: retry in a few seconds
)

// Error is a refusal the client sees as an error frame.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Frame types a client may send.
const (
	TypeAuth        = "auth"
	TypeSubscribe   = "subscribe"
	TypeUnsubscribe = "unsubscribe"
	TypePing        = "ping"
)

// Data frame types: what publishers announce on a channel (realtime.Message.Type).
const (
	TypeTally        = "tally"        // a released tally on poll:<id>
	TypePollClosed   = "poll_closed"  // the final results on poll:<id>
	TypeEvent        = "event"        // a circle event on circle:<id> (Event names it)
	TypeNotification = "notification" // a new in-app notification on user:<id>
)

// Client is one parsed client message. ID is the client's integer id exactly as it was
// written (echoed verbatim), nil when absent.
type Client struct {
	Type    string
	ID      json.RawMessage
	Channel string
	Token   string
}

// rawClient is decoded first with every field as raw JSON, so that a field of the wrong type is
// reported as INVALID_FORMAT while the id can still be echoed when it was readable.
type rawClient struct {
	Type    json.RawMessage `json:"type"`
	ID      json.RawMessage `json:"id"`
	Channel json.RawMessage `json:"channel"`
	Token   json.RawMessage `json:"token"`
}

// Parse reads one client message. On failure it returns the error to send and the id to
// echo (nil when none could be read). It never panics, whatever the input.
func Parse(data []byte) (Client, *Error) {
	var f Client
	var raw rawClient
	d := json.NewDecoder(bytes.NewReader(data))
	if err := d.Decode(&raw); err != nil {
		return f, &Error{CodeInvalidFormat, "a frame is one JSON object"}
	}
	if d.More() {
		return f, &Error{CodeInvalidFormat, "send exactly one JSON object per message"}
	}
	if isNull(raw.ID) {
		raw.ID = nil
	} else if !isInteger(raw.ID) {
		return f, &Error{CodeInvalidFormat, "id must be an integer"}
	} else {
		f.ID = raw.ID
	}
	var ok bool
	if f.Type, ok = stringField(raw.Type); !ok || f.Type == "" {
		return f, &Error{CodeInvalidFormat, "type must be a string"}
	}
	if f.Channel, ok = stringField(raw.Channel); !ok {
		return f, &Error{CodeInvalidFormat, "channel must be a string"}
	}
	if f.Token, ok = stringField(raw.Token); !ok {
		return f, &Error{CodeInvalidFormat, "token must be a string"}
	}
	switch f.Type {
	case TypeAuth:
		if f.Token == "" {
			return f, &Error{CodeInvalidFormat, "auth needs a token"}
		}
	case TypeSubscribe, TypeUnsubscribe:
		if f.Channel == "" {
			return f, &Error{CodeInvalidChannel, "name a channel"}
		}
	case TypePing:
	default:
		return f, &Error{CodeUnknownFrame, "unknown frame type " + strconv.Quote(truncate(f.Type, 32))}
	}
	return f, nil
}

func isNull(r json.RawMessage) bool { return len(r) == 0 || string(r) == "null" }

// isInteger accepts a JSON number without fraction or exponent that fits an int64.
func isInteger(r json.RawMessage) bool {
	_, err := strconv.ParseInt(string(r), 10, 64)
	return err == nil
}

// stringField decodes an optional string; absent or null is "".
func stringField(r json.RawMessage) (string, bool) {
	if isNull(r) {
		return "", true
	}
	if r[0] != '"' {
		return "", false
	}
	var s string
	if err := json.Unmarshal(r, &s); err != nil {
		return "", false
	}
	return s, true
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Server frames are assembled by hand, here only: each is a few fixed keys around values that
// are either pre-encoded JSON (snapshots, data, the client's id) or strings quoted here.

func appendID(b []byte, id json.RawMessage) []byte {
	if id != nil {
		b = append(b, `,"id":`...)
		b = append(b, id...)
	}
	return b
}

func appendStr(b []byte, key, v string) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendQuoted(b, v)
}

func appendQuoted(b []byte, v string) []byte {
	q, _ := json.Marshal(v) // a string always encodes
	return append(b, q...)
}

// appendData adds the frame's data, null when there is none.
func appendData(b []byte, data json.RawMessage) []byte {
	b = append(b, `,"data":`...)
	if len(data) == 0 {
		return append(b, "null"...)
	}
	return append(b, data...)
}

// Ready is the first frame after authentication.
func Ready(userID string) []byte {
	b := append([]byte(nil), `{"type":"ready"`...)
	b = appendStr(b, "user_id", userID)
	return append(b, '}')
}

// Subscribed answers a subscribe with the channel's snapshot data (null when nil).
func Subscribed(id json.RawMessage, channel string, data json.RawMessage) []byte {
	b := append([]byte(nil), `{"type":"subscribed"`...)
	b = appendID(b, id)
	b = appendStr(b, "channel", channel)
	b = appendData(b, data)
	return append(b, '}')
}

// Unsubscribed answers an unsubscribe, or ends a subscription (reason: "removed", "deleted",
// "hidden").
func Unsubscribed(id json.RawMessage, channel, reason string) []byte {
	b := append([]byte(nil), `{"type":"unsubscribed"`...)
	b = appendID(b, id)
	b = appendStr(b, "channel", channel)
	if reason != "" {
		b = appendStr(b, "reason", reason)
	}
	return append(b, '}')
}

// Refusal is the error frame of e.
func Refusal(id json.RawMessage, e *Error) []byte {
	b := append([]byte(nil), `{"type":"error"`...)
	b = appendID(b, id)
	b = appendStr(b, "code", e.Code)
	b = appendStr(b, "message", e.Message)
	return append(b, '}')
}

// Pong answers a ping frame.
func Pong(id json.RawMessage) []byte {
	b := append([]byte(nil), `{"type":"pong"`...)
	b = appendID(b, id)
	return append(b, '}')
}

// Reconnect tells a client to connect again (to another replica): this one shuts down.
var Reconnect = []byte(`{"type":"reconnect","reason":"shutdown"}`)

// Data is the frame of what a publisher announced on a channel: a tally, final results, a
// circle event (event names it) or a notification, with its data as encoded by the app.
func Data(typ, channel, event string, data json.RawMessage) []byte {
	b := make([]byte, 0, len(data)+len(channel)+len(typ)+len(event)+48)
	b = append(b, `{"type":`...)
	b = appendQuoted(b, typ)
	b = appendStr(b, "channel", channel)
	if event != "" {
		b = appendStr(b, "event", event)
	}
	b = appendData(b, data)
	return append(b, '}')
}

// Snapshot is a channel's state when a subscription starts: the data of the `subscribed`
// frame, and for a poll the released version it shows.
type Snapshot struct {
	Version int
	Data    json.RawMessage
	// A poll's snapshot also carries the compact form's parts: its option ids in display order
	// (OptionIDs) and the compact tally (CompactTally.Encode). Nil elsewhere.
	OptionIDs json.RawMessage
	Compact   json.RawMessage
}

// CompactData is the `subscribed` data for a connection that asked for compact tallies: the
// option ids once, then the counts. A snapshot without the compact parts (circle and user
// channels) answers its Data.
func (s Snapshot) CompactData() json.RawMessage {
	if d := compactSnapshot(s.OptionIDs, s.Compact); d != nil {
		return d
	}
	return s.Data
}

// ErrUnavailable is what an authorizer or a snapshot source returns (wrapped or not) when the
// database cannot be reached: the client is told to retry (SERVICE_UNAVAILABLE, or close 1013
// at first-frame auth), not that it did wrong.
var ErrUnavailable = errors.New("live: database unavailable")
