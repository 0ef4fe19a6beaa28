package loadtest

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// frame is what the generator needs from a server frame. A hot poll delivers a hundred thousand
// frames a second to the generator, which shares the machine with the server: decoding each one
// with encoding/json would cost the generator more CPU than the server spends sending them. So
// frames are scanned for the three fields by byte search. The server's frames are compact JSON
// written by encoding/json, where a key such as "version" inside a string value would be escaped
// (\"version\") and so cannot be mistaken for the key; anything the scan cannot read falls back
// to a full decode.
type frame struct {
	Type    []byte
	Channel []byte
	Version int64 // -1 when absent
	ID      int64 // the client's frame id echoed back; -1 when absent
	Code    []byte
}

var (
	keyType    = []byte(`"type":"`)
	keyChannel = []byte(`"channel":"`)
	keyVersion = []byte(`"version":`)
	keyCode    = []byte(`"code":"`)
	keyID      = []byte(`"id":`)
)

// intAt returns the integer right after key's first occurrence, or -1.
func intAt(b, key []byte) (int64, bool) {
	i := bytes.Index(b, key)
	if i < 0 {
		return -1, true
	}
	rest := b[i+len(key):]
	j := 0
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	v, err := strconv.ParseInt(string(rest[:j]), 10, 64)
	return v, err == nil
}

// stringAt returns the string value that starts right after key's first occurrence, or nil. The
// values looked for (types, channels, codes) hold no escapes.
func stringAt(b, key []byte) []byte {
	i := bytes.Index(b, key)
	if i < 0 {
		return nil
	}
	rest := b[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 || bytes.IndexByte(rest[:j], '\\') >= 0 {
		return nil
	}
	return rest[:j]
}

// parseFrame reads type, channel, version and error code from one server frame. The slices
// point into b.
func parseFrame(b []byte) (frame, error) {
	f := frame{Type: stringAt(b, keyType), Channel: stringAt(b, keyChannel), ID: -1}
	if f.Type == nil {
		return slowParse(b)
	}
	var ok bool
	if f.Version, ok = intAt(b, keyVersion); !ok {
		return slowParse(b)
	}
	// Tallies, the frames that come by the hundred thousand, carry no id and no code: looking
	// for them would scan every 3 KB frame to its end twice.
	if t := string(f.Type); t == "tally" || t == "poll_closed" {
		return f, nil
	}
	f.Code = stringAt(b, keyCode)
	if f.ID, ok = intAt(b, keyID); !ok {
		return slowParse(b)
	}
	return f, nil
}

// slowParse is the full decode for frames the scan could not read.
func slowParse(b []byte) (frame, error) {
	var raw struct {
		Type    string `json:"type"`
		Channel string `json:"channel"`
		Code    string `json:"code"`
		ID      *int64 `json:"id"`
		Data    struct {
			Version *int64 `json:"version"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return frame{}, err
	}
	f := frame{Type: []byte(raw.Type), Channel: []byte(raw.Channel), Code: []byte(raw.Code), Version: -1, ID: -1}
	if raw.ID != nil {
		f.ID = *raw.ID
	}
	if raw.Data.Version != nil {
		f.Version = *raw.Data.Version
	}
	return f, nil
}
