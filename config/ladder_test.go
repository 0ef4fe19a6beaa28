package config_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"circly/config"
)

// TestSanctionLadder: 24h, 7 days, 30 days and removal by default; a bad ladder stops start-up
// naming the setting.
func TestSanctionLadder(t *testing.T) {
	want := []config.SanctionStep{{Duration: 24 * time.Hour}, {Duration: 168 * time.Hour}, {Duration: 720 * time.Hour}, {Remove: true}}
	if c := mustLoad(t, nil); !reflect.DeepEqual(c.SanctionLadder, want) {
		t.Errorf("default %v, want %v", c.SanctionLadder, want)
	}
	c := mustLoad(t, map[string]string{"SANCTION_LADDER": "1h, 2h"})
	if !reflect.DeepEqual(c.SanctionLadder, []config.SanctionStep{{Duration: time.Hour}, {Duration: 2 * time.Hour}}) {
		t.Errorf("1h,2h read as %v", c.SanctionLadder)
	}
	for _, v := range []string{"remove,24h", "24h,,remove", "30s", "-1h", "tomorrow", "1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h"} {
		_, err := load(map[string]string{"SANCTION_LADDER": v})
		if err == nil || !strings.Contains(err.Error(), "SANCTION_LADDER") {
			t.Errorf("SANCTION_LADDER=%q: %v, want an error naming the setting", v, err)
		}
	}
}
