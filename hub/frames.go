package hub

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// Error codes of error frames (the contract's "Live updates" section).
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
	FrameAuth        = "auth"
	FrameSubscribe   = "subscribe"
	FrameUnsubscribe = "unsubscribe"
	FramePing        = "ping"
)

// ClientFrame is one parsed client message. ID is the client's integer id exactly as it was
// written (echoed verbatim), nil when absent.
type ClientFrame struct {
	Type    string
	ID      json.RawMessage
	Channel string
	Token   string
}

// rawFrame is decoded first with every field as raw JSON, so that a field of the wrong type is
// reported as INVALID_FORMAT while the id can still be echoed when it was readable.
type rawFrame struct {
	Type    json.RawMessage `json:"type"`
	ID      json.RawMessage `json:"id"`
	Channel json.RawMessage `json:"channel"`
	Token   json.RawMessage `json:"token"`
}

// ParseFrame reads one client message. On failure it returns the error to send and the id to
// echo (nil when none could be read). It never panics, whatever the input.
func ParseFrame(data []byte) (ClientFrame, *Error) {
	var f ClientFrame
	var raw rawFrame
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
	case FrameAuth:
		if f.Token == "" {
			return f, &Error{CodeInvalidFormat, "auth needs a token"}
		}
	case FrameSubscribe, FrameUnsubscribe:
		if f.Channel == "" {
			return f, &Error{CodeInvalidChannel, "name a channel"}
		}
	case FramePing:
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

// Server frames are assembled by hand: each is a few fixed keys around values that are either
// pre-encoded JSON (snapshots, the client's id) or strings quoted here.

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
	q, _ := json.Marshal(v) // a string always encodes
	return append(b, q...)
}

func readyFrame(userID string) []byte {
	b := append([]byte(nil), `{"type":"ready"`...)
	b = appendStr(b, "user_id", userID)
	return append(b, '}')
}

func subscribedFrame(id json.RawMessage, channel string, data json.RawMessage) []byte {
	b := append([]byte(nil), `{"type":"subscribed"`...)
	b = appendID(b, id)
	b = appendStr(b, "channel", channel)
	b = append(b, `,"data":`...)
	if len(data) == 0 {
		data = json.RawMessage("null")
	}
	b = append(b, data...)
	return append(b, '}')
}

func unsubscribedFrame(id json.RawMessage, channel, reason string) []byte {
	b := append([]byte(nil), `{"type":"unsubscribed"`...)
	b = appendID(b, id)
	b = appendStr(b, "channel", channel)
	if reason != "" {
		b = appendStr(b, "reason", reason)
	}
	return append(b, '}')
}

func errorFrame(id json.RawMessage, e *Error) []byte {
	b := append([]byte(nil), `{"type":"error"`...)
	b = appendID(b, id)
	b = appendStr(b, "code", e.Code)
	b = appendStr(b, "message", e.Message)
	return append(b, '}')
}

func pongFrame(id json.RawMessage) []byte {
	b := append([]byte(nil), `{"type":"pong"`...)
	b = appendID(b, id)
	return append(b, '}')
}

var reconnectFrame = []byte(`{"type":"reconnect","reason":"shutdown"}`)

// tallyFrame builds a tally frame from a poll snapshot, field for field the frame publishers
// send (app.TallyMessage).
func tallyFrame(channel string, data json.RawMessage) []byte {
	b := append(tallyPrefix(channel), data...)
	return append(b, '}')
}

// tallyPrefix is a tally frame up to its data; the snapshot cache cuts the data out with it.
func tallyPrefix(channel string) []byte {
	b := append([]byte(nil), `{"type":"tally"`...)
	b = appendStr(b, "channel", channel)
	return append(b, `,"data":`...)
}
