package testsentry

import "testing"

// TestDecode reads both item framings of the envelope format: with a length (the payload may
// hold newlines) and without (the payload ends at the newline).
func TestDecode(t *testing.T) {
	env := "{\"event_id\":\"x\",\"dsn\":\"http://k@h/42\"}\n" +
		"{\"type\":\"event\",\"length\":20}\n{\"tags\":{\"job\":\"a\"}}\n" +
		"{\"type\":\"transaction\"}\n{\"transaction\":\"GET /v1/polls/:id\"}\n" +
		"{\"type\":\"attachment\",\"length\":4}\nab\nc\n"
	items, err := Decode([]byte(env))
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 3 || items[0].Tag("job") != "a" || items[1].Name() != "GET /v1/polls/:id" || items[2].Raw != "ab\nc" {
		t.Fatalf("decoded %+v", items)
	}
	if _, err := Decode([]byte("{}\n{\"type\":\"event\",\"length\":99}\n{}")); err == nil {
		t.Fatal("a short payload was accepted")
	}
}
