package frames_test

import (
	"encoding/json"
	"strings"
	"testing"

	"circly/frames"
)

func TestParseFrame(t *testing.T) {
	cases := []struct {
		in     string
		code   string
		typ    string
		withID bool
	}{
		{`{"type":"subscribe","id":1,"channel":"poll:x"}`, "", "subscribe", true},
		{`{"type":"ping","id":3}`, "", "ping", true},
		{`{"type":"ping"}`, "", "ping", false},
		{`{"type":"auth","token":"t"}`, "", "auth", false},
		{`{"type":"auth"}`, frames.CodeInvalidFormat, "", false},
		{`{"type":"subscribe","id":1}`, frames.CodeInvalidChannel, "", true},
		{`{"type":"subscribe","id":"1","channel":"poll:x"}`, frames.CodeInvalidFormat, "", false},
		{`{"type":"subscribe","id":1.5,"channel":"poll:x"}`, frames.CodeInvalidFormat, "", false},
		{`{"type":"subscribe","id":1,"channel":5}`, frames.CodeInvalidFormat, "", true},
		{`{"type":7,"id":2}`, frames.CodeInvalidFormat, "", true},
		{`{"type":"dance","id":2}`, frames.CodeUnknownFrame, "", true},
		{`not json`, frames.CodeInvalidFormat, "", false},
		{`[1,2]`, frames.CodeInvalidFormat, "", false},
		{`{"type":"ping"}{"type":"ping"}`, frames.CodeInvalidFormat, "", false},
		{``, frames.CodeInvalidFormat, "", false},
		{`null`, frames.CodeInvalidFormat, "", false},
	}
	for _, tc := range cases {
		f, err := frames.Parse([]byte(tc.in))
		switch {
		case tc.code == "" && err != nil:
			t.Errorf("%s: %v", tc.in, err)
		case tc.code != "" && (err == nil || err.Code != tc.code):
			t.Errorf("%s: got %v, want %s", tc.in, err, tc.code)
		case tc.code == "" && f.Type != tc.typ:
			t.Errorf("%s: type %q", tc.in, f.Type)
		}
		if (f.ID != nil) != tc.withID {
			t.Errorf("%s: id %q, want present=%v", tc.in, f.ID, tc.withID)
		}
	}
}

// FuzzParseFrame: any input parses or yields a contract error code; never a panic, and an
// echoed id is always a JSON integer.
func FuzzParseFrame(f *testing.F) {
	for _, s := range []string{
		`{"type":"subscribe","id":1,"channel":"poll:7f0c1d2e-3b4a-4c5d-8e9f-a0b1c2d3e4f5"}`,
		`{"type":"unsubscribe","id":2,"channel":"circle:x"}`,
		`{"type":"ping","id":3}`, `{"type":"auth","token":"abc"}`, `{"type":"x"}`,
		`{"id":99999999999999999999}`, `{"type":"ping","id":-0}`, `{"type":"\u0000"}`,
		`{`, `[]`, `""`, `{"type":"ping","type":"auth"}`, strings.Repeat(`{"a":`, 500),
	} {
		f.Add([]byte(s))
	}
	known := map[string]bool{frames.CodeInvalidFormat: true, frames.CodeInvalidChannel: true, frames.CodeUnknownFrame: true}
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := frames.Parse(data)
		if err != nil && !known[err.Code] {
			t.Fatalf("code %q", err.Code)
		}
		if fr.ID != nil {
			var n json.Number
			if json.Unmarshal(fr.ID, &n) != nil {
				t.Fatalf("id %q is not a number", fr.ID)
			}
		}
		if err == nil && fr.Type == "" {
			t.Fatal("accepted a frame without type")
		}
	})
}
