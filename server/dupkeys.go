package server

import (
	"bytes"
	"encoding/json"
)

// duplicateKey returns the first object key that appears twice in the same object of a valid
// JSON document ("" when none). encoding/json keeps the last of them silently, so a body like
// {"option_id": a, "option_id": b} would mean whatever the last one says.
func duplicateKey(doc []byte) string {
	dec := json.NewDecoder(bytes.NewReader(doc))
	// One frame per open container: the keys seen so far (nil for an array), and whether the
	// next string token of an object is a key.
	type frame struct {
		keys      map[string]bool
		expectKey bool
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return "" // end of input (the document was decoded already, so it is valid)
		}
		top := len(stack) - 1
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, frame{keys: map[string]bool{}, expectKey: true})
				continue
			case '[':
				stack = append(stack, frame{})
				continue
			default: // '}' or ']': the container is a value of its parent
				stack = stack[:top]
				top--
			}
		case string:
			if top >= 0 && stack[top].keys != nil && stack[top].expectKey {
				if stack[top].keys[t] {
					return t
				}
				stack[top].keys[t] = true
				stack[top].expectKey = false
				continue
			}
		}
		if top >= 0 && stack[top].keys != nil {
			stack[top].expectKey = true // a value ended: the next string is a key
		}
	}
}
