package push

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestReceiptsURLFor(t *testing.T) {
	for in, want := range map[string]string{
		"https://exp.host/--/api/v2/push/send":  "https://exp.host/--/api/v2/push/getReceipts",
		"https://exp.host/--/api/v2/push/send/": "https://exp.host/--/api/v2/push/getReceipts",
		"http://127.0.0.1:9/x/send?a=1":         "http://127.0.0.1:9/x/getReceipts?a=1",
		"http://127.0.0.1:9":                    "http://127.0.0.1:9/getReceipts",
	} {
		if got := receiptsURLFor(in); got != want {
			t.Errorf("receiptsURLFor(%q) = %q, want %q", in, got, want)
		}
	}
	if c := New(Options{ReceiptsURL: "http://r/x"}); c.receiptsURL != "http://r/x" || c.sendURL != DefaultURL {
		t.Errorf("explicit receipts URL or default send URL lost: %q %q", c.receiptsURL, c.sendURL)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"": 0, "3": 3 * time.Second, " 10 ": 10 * time.Second, "0": 0, "-4": 0, "soon": 0,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Minute).Format(http.TimeFormat):     0,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestBackoffIsJitteredAndCapped(t *testing.T) {
	c := New(Options{BaseBackoff: 100 * time.Millisecond, MaxBackoff: time.Second})
	for n := 1; n <= 70; n++ {
		ceiling := min(time.Second, 100*time.Millisecond<<min(n-1, 20))
		var distinct = map[time.Duration]bool{}
		for range 50 {
			d := c.backoff(n)
			if d < 0 || d >= ceiling {
				t.Fatalf("backoff(%d) = %v, outside [0, %v)", n, d, ceiling)
			}
			distinct[d] = true
		}
		if len(distinct) < 10 {
			t.Fatalf("backoff(%d) is not jittered: %d distinct values in 50", n, len(distinct))
		}
	}
}

func TestMaskToken(t *testing.T) {
	for in, want := range map[string]string{
		"ExponentPushToken[abcdefghijklmnopqrstuv]": "ExponentPushToken[abcd…]",
		"ExpoPushToken[short]":                      "ExpoPushToken[…]",
		"rawtokenvalue123":                          "rawt…",
		"":                                          "…",
	} {
		if got := MaskToken(in); got != want {
			t.Errorf("MaskToken(%q) = %q, want %q", in, got, want)
		}
	}
	s := scrub(`"ExponentPushToken[abcdefghijklmnop]" is not registered`)
	if strings.Contains(s, "efgh") || !strings.Contains(s, "ExponentPushToken[abcd…]") {
		t.Errorf("scrub left %q", s)
	}
}
