package hub_test

import (
	"context"
	"testing"

	"circly/frames"
	"circly/hub"
	"circly/realtime"
)

// TestPollHidden: an ended message with reason "hidden" unsubscribes the poll's watchers with
// that reason, and a new subscribe is asked of the authorizer again (its cached grant dropped)
// and refused; a message without a reason (an older replica's) still says "deleted".
func TestPollHidden(t *testing.T) {
	h := newHarness(t, hub.Limits{})
	circle, hidden, old := uuidN("c", 1), uuidN("ph", 2), uuidN("po", 3)
	h.world.addPoll(hidden, circle)
	h.world.addPoll(old, circle)
	h.world.join(circle, "u1")
	f := h.open("u1")
	for i, p := range []string{hidden, old} {
		f.send(map[string]any{"type": "subscribe", "id": i, "channel": realtime.PollChannel(p)})
		f.expect(t, "subscribed")
	}
	h.world.deletePoll(hidden)
	h.world.deletePoll(old)
	for p, want := range map[string]string{hidden: realtime.EndedHidden, old: realtime.EndedDeleted} {
		m := realtime.Message{Channel: realtime.ControlChannel, Kind: realtime.KindEnded, Target: realtime.PollChannel(p), CircleID: circle}
		if p == hidden {
			m.Reason = realtime.EndedHidden
		}
		if err := h.broker.Publish(context.Background(), m); err != nil {
			t.Fatal(err)
		}
		if got := f.expect(t, "unsubscribed"); got["channel"] != realtime.PollChannel(p) || got["reason"] != want {
			t.Fatalf("got %v, want unsubscribed from %s with reason %s", got, p, want)
		}
	}
	f.send(map[string]any{"type": "subscribe", "id": 9, "channel": realtime.PollChannel(hidden)})
	if m := f.expect(t, "error"); m["code"] != frames.CodePollNotFound {
		t.Fatalf("subscribing to the hidden poll: %v", m)
	}
}
