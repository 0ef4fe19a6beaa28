package backup

import (
	"errors"
	"regexp"
	"strings"
	"time"
)

// A backup set is the objects <prefix>circly-<UTC time>/{db.dump,uploads.tar.gz,manifest.json}.
// The manifest is written last, after every other object was read back and checked: a set
// without one is a partial upload and never counts as a backup.
const (
	dumpName     = "db.dump"
	uploadsName  = "uploads.tar.gz"
	manifestName = "manifest.json"
	stampLayout  = "20060102T150405Z"
)

// ErrChecksum is a file whose bytes are not the ones the backup wrote.
var ErrChecksum = errors.New("checksum mismatch")

var setName = regexp.MustCompile(`^circly-[0-9]{8}T[0-9]{6}Z$`)

// Set is one backup in the bucket.
type Set struct {
	Name     string
	Time     time.Time
	Size     int64
	Complete bool // has its manifest
	keys     []string
}

// File is one object of a set as the manifest lists it.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

func nameAt(t time.Time) string { return "circly-" + t.UTC().Format(stampLayout) }

func timeOf(name string) (time.Time, bool) {
	if !setName.MatchString(name) {
		return time.Time{}, false
	}
	t, err := time.Parse(stampLayout, strings.TrimPrefix(name, "circly-"))
	return t, err == nil
}

// splitKey splits "circly-<time>/<file>" (the key less the prefix); ok is false for any
// object this service did not write, which retention therefore never touches.
func splitKey(rest string) (set, file string, ok bool) {
	set, file, found := strings.Cut(rest, "/")
	if !found || file == "" || strings.Contains(file, "/") {
		return "", "", false
	}
	if _, ok := timeOf(set); !ok {
		return "", "", false
	}
	return set, file, true
}

// expired picks the sets older than the retention, never the one just written (keep).
func expired(sets []Set, now time.Time, retention time.Duration, keep string) []Set {
	var out []Set
	for _, s := range sets {
		if s.Name != keep && now.Sub(s.Time) > retention {
			out = append(out, s)
		}
	}
	return out
}

// latest is the newest complete set.
func latest(sets []Set) (Set, bool) {
	for i := len(sets) - 1; i >= 0; i-- {
		if sets[i].Complete {
			return sets[i], true
		}
	}
	return Set{}, false
}
