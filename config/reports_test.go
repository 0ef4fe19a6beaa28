package config_test

import (
	"strings"
	"testing"

	"circly/config"
)

// TestReportSettings: the defaults, 0 turning a threshold off, and 1 refused with a line that
// names the setting and why (one reporter must never hide a target alone).
func TestReportSettings(t *testing.T) {
	if got, want := mustLoad(t, nil).Reports, (config.Reports{HidePollAt: 3, HideMemberAt: 5, RateLimit: 10}); got != want {
		t.Fatalf("defaults %+v, want %+v", got, want)
	}
	off := mustLoad(t, map[string]string{"REPORT_HIDE_POLL_AT": "0", "REPORT_HIDE_MEMBER_AT": "0", "REPORT_RATE_LIMIT": "0"}).Reports
	if off != (config.Reports{}) {
		t.Fatalf("all off: %+v", off)
	}
	if got := mustLoad(t, map[string]string{"REPORT_HIDE_POLL_AT": "2", "REPORT_HIDE_MEMBER_AT": "7"}).Reports; got.HidePollAt != 2 || got.HideMemberAt != 7 {
		t.Fatalf("read %+v", got)
	}
	for _, name := range []string{"REPORT_HIDE_POLL_AT", "REPORT_HIDE_MEMBER_AT"} {
		_, err := load(map[string]string{name: "1"})
		if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "alone") {
			t.Errorf("%s=1: %v, want a refusal naming the setting", name, err)
		}
	}
	for _, bad := range []map[string]string{{"REPORT_HIDE_POLL_AT": "-1"}, {"REPORT_HIDE_MEMBER_AT": "many"}, {"REPORT_RATE_LIMIT": "-5"}} {
		if _, err := load(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
