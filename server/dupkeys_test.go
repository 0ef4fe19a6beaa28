package server

import "testing"

func TestDuplicateKey(t *testing.T) {
	cases := map[string]string{
		`{}`:                                    "",
		`{"a":1,"b":2}`:                         "",
		`{"a":1,"a":2}`:                         "a",
		`{"a":{"b":1},"c":{"b":2}}`:             "",
		`{"a":{"b":1,"b":2}}`:                   "b",
		`{"a":[{"x":1},{"x":2}],"b":"a"}`:       "",
		`{"a":[{"x":1,"x":2}]}`:                 "x",
		`{"a":"b","b":"a"}`:                     "",
		`{"a":["a","a"],"b":{"a":"a"}}`:         "",
		`{"a":[[],{}],"a":0}`:                   "a",
		`{"option_id":"x","option_id":"y"}`:     "option_id",
		`[{"k":1},{"k":1}]`:                     "",
		`{"a":null,"b":true,"c":1.5,"b":false}`: "b",
	}
	for doc, want := range cases {
		if got := duplicateKey([]byte(doc)); got != want {
			t.Errorf("%s: %q, want %q", doc, got, want)
		}
	}
}

func FuzzDuplicateKey(f *testing.F) {
	f.Add([]byte(`{"a":1,"a":2}`))
	f.Add([]byte(`{"a":[{"b":{}}]}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		_ = duplicateKey(doc) // never panics, whatever the bytes
	})
}
