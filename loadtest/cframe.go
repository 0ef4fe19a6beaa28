package loadtest

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// Centrifuge's JSON protocol (the peer's): the client sends commands {"id":N,"connect":{…}} and
// {"id":N,"subscribe":{"channel":…}}; the server answers with replies that echo the id and
// carry "connect", "subscribe" or "error", sends pushes {"push":{"channel":…,"pub":{"data":…}}}
// without an id, and pings with {} (answered with {}). Several replies and pushes may share one
// WebSocket message, one per line. parseCentrifuge maps one line onto the frame the Circly
// path reads (types ready, subscribed, tally, error, ping), with the same byte scan, so the
// generator spends about as much per frame on either protocol.

// centrifugeConnectID is the connect command's id; subscriptions use 1…n as on Circly.
const centrifugeConnectID = 1 << 30

var (
	keyPush       = []byte(`"push":{`)
	keyPub        = []byte(`"pub":{`)
	keyConnect    = []byte(`"connect":{`)
	keySubscribe  = []byte(`"subscribe":{`)
	keyError      = []byte(`"error":{`)
	keyCodeNum    = []byte(`"code":`)
	keyDisconnect = []byte(`"disconnect":{`)
)

func parseCentrifuge(b []byte) (frame, error) {
	f := frame{Version: -1, ID: -1}
	if len(bytes.TrimSpace(b)) == 2 && bytes.Equal(bytes.TrimSpace(b), []byte("{}")) {
		f.Type = []byte("ping")
		return f, nil
	}
	if i := bytes.Index(b, keyPush); i >= 0 {
		push := b[i:]
		switch {
		case bytes.Contains(push, keyPub):
			f.Type = []byte("tally")
			f.Channel = stringAt(push, keyChannel)
			v, ok := intAt(push, keyVersion)
			if !ok || f.Channel == nil {
				return slowCentrifuge(b)
			}
			f.Version = v
		case bytes.Contains(push, keyDisconnect):
			f.Type = []byte("reconnect")
		default:
			f.Type = []byte("other")
		}
		return f, nil
	}
	id, ok := intAt(b, keyID)
	if !ok || id < 0 {
		return slowCentrifuge(b)
	}
	f.ID = id
	switch {
	case bytes.Contains(b, keyError):
		f.Type = []byte("error")
		code, ok := intAt(b, keyCodeNum)
		if !ok {
			return slowCentrifuge(b)
		}
		f.Code = []byte("centrifuge " + strconv.FormatInt(code, 10))
	case bytes.Contains(b, keyConnect):
		f.Type = []byte("ready")
	case bytes.Contains(b, keySubscribe):
		// The peer puts the channel's last tally in the reply (Circly's snapshot); none means
		// nothing was published yet: version 0, as a new poll's snapshot.
		f.Type = []byte("subscribed")
		v, ok := intAt(b, keyVersion)
		if !ok {
			return slowCentrifuge(b)
		}
		f.Version = max(v, 0)
	default:
		f.Type = []byte("other")
	}
	return f, nil
}

// slowCentrifuge is the full decode for lines the scan could not read.
func slowCentrifuge(b []byte) (frame, error) {
	type pub struct {
		Data struct {
			Version *int64 `json:"version"`
		} `json:"data"`
	}
	var raw struct {
		ID    *int64 `json:"id"`
		Error *struct {
			Code int64 `json:"code"`
		} `json:"error"`
		Connect   *json.RawMessage `json:"connect"`
		Subscribe *struct {
			Publications []pub `json:"publications"`
		} `json:"subscribe"`
		Push *struct {
			Channel    string           `json:"channel"`
			Pub        *pub             `json:"pub"`
			Disconnect *json.RawMessage `json:"disconnect"`
		} `json:"push"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return frame{}, err
	}
	f := frame{Version: -1, ID: -1, Type: []byte("other")}
	if raw.ID != nil {
		f.ID = *raw.ID
	}
	switch {
	case raw.Push != nil && raw.Push.Pub != nil:
		f.Type, f.Channel = []byte("tally"), []byte(raw.Push.Channel)
		if raw.Push.Pub.Data.Version != nil {
			f.Version = *raw.Push.Pub.Data.Version
		}
	case raw.Push != nil && raw.Push.Disconnect != nil:
		f.Type = []byte("reconnect")
	case raw.Error != nil:
		f.Type, f.Code = []byte("error"), []byte("centrifuge "+strconv.FormatInt(raw.Error.Code, 10))
	case raw.Connect != nil:
		f.Type = []byte("ready")
	case raw.Subscribe != nil:
		f.Type, f.Version = []byte("subscribed"), 0
		if ps := raw.Subscribe.Publications; len(ps) > 0 && ps[len(ps)-1].Data.Version != nil {
			f.Version = *ps[len(ps)-1].Data.Version
		}
	}
	return f, nil
}
