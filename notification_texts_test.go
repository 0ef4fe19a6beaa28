package circly

import (
	"strings"
	"testing"
)

// TestNotificationTexts: each text names the circle and the question; a reminder says hours
// when the minutes make whole hours; the picked text gives a count, never a name.
func TestNotificationTexts(t *testing.T) {
	texts := map[string][2]string{}
	texts["start"] = pair(PollStartText("3반", "가장 친절한 사람은?"))
	texts["result"] = pair(PollResultText("3반", "가장 친절한 사람은?"))
	texts["picked"] = pair(PickedText(4, "3반", "가장 친절한 사람은?"))
	texts["hour"] = pair(PollDeadlineText(60, "3반", "가장 친절한 사람은?"))
	texts["minutes"] = pair(PollDeadlineText(10, "3반", "가장 친절한 사람은?"))
	for name, tm := range texts {
		if tm[0] == "" || !strings.Contains(tm[1], "3반") || !strings.Contains(tm[1], "가장 친절한 사람은?") {
			t.Errorf("%s: %q / %q", name, tm[0], tm[1])
		}
	}
	if !strings.Contains(texts["hour"][0], "1시간") || !strings.Contains(texts["minutes"][0], "10분") {
		t.Errorf("reminders: %q, %q", texts["hour"][0], texts["minutes"][0])
	}
	if !strings.Contains(texts["picked"][1], "4번") {
		t.Errorf("picked: %q", texts["picked"][1])
	}
}

func pair(title, message string) [2]string { return [2]string{title, message} }
