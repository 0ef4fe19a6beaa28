package backup

import (
	"testing"
	"time"
)

func TestKeysAndRetention(t *testing.T) {
	now := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	if n := nameAt(now); n != "circly-20261207T030000Z" {
		t.Fatalf("nameAt = %s", n)
	}
	for key, want := range map[string]bool{
		"circly-20261207T030000Z/db.dump":       true,
		"circly-20261207T030000Z/manifest.json": true,
		"circly-20261207T030000Z/":              false,
		"circly-20261207T030000Z/a/b":           false,
		"notes.txt":                             false,
		"circly-latest/db.dump":                 false,
		"other-20261207T030000Z/db.dump":        false,
		"circly-20261307T030000Z/manifest.json": false, // month 13
	} {
		if _, _, ok := splitKey(key); ok != want {
			t.Errorf("splitKey(%q) ok = %v, want %v", key, ok, want)
		}
	}

	set := func(age time.Duration, complete bool) Set {
		at := now.Add(-age)
		return Set{Name: nameAt(at), Time: at.Truncate(time.Second), Complete: complete}
	}
	sets := []Set{set(30*24*time.Hour, true), set(8*24*time.Hour, false), set(6*24*time.Hour, true), set(0, true)}
	got := expired(sets, now, 7*24*time.Hour, sets[3].Name)
	if len(got) != 2 || got[0].Name != sets[0].Name || got[1].Name != sets[1].Name {
		t.Errorf("expired = %v, want the 30- and 8-day-old sets", got)
	}
	// The set just written is kept even when the clock says it is old.
	if got := expired(sets, now.Add(365*24*time.Hour), 7*24*time.Hour, sets[3].Name); len(got) != 3 {
		t.Errorf("expired a year later = %d sets, want 3 (never the new one)", len(got))
	}
	if l, ok := latest([]Set{sets[2], set(time.Hour, false)}); !ok || l.Name != sets[2].Name {
		t.Errorf("latest = %v %v, want the newest complete set", l, ok)
	}
}
