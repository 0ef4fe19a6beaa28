package jobs

import (
	"time"

	"circly"
)

// The user's clock decides quiet hours and the daily cap: both are read in their IANA timezone.

// userLocation loads a user's timezone, UTC when it is unknown (it was checked when set).
func userLocation(tz string) *time.Location {
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return time.UTC
	}
	return loc
}

// localDay names now's day in loc, YYYY-MM-DD: the day the daily cap counts in.
func localDay(now time.Time, loc *time.Location) string { return now.In(loc).Format(time.DateOnly) }

// quietUntil tells whether now falls in the user's quiet hours and, if so, when they end. Quiet
// hours run from quiet_start_hour:00 up to quiet_end_hour:00 local time, across midnight when
// the start is later than the end (22 → 8).
func quietUntil(now time.Time, ns circly.NotificationSettings, loc *time.Location) (time.Time, bool) {
	if !ns.QuietHoursEnabled || ns.QuietStartHour == ns.QuietEndHour {
		return time.Time{}, false
	}
	l := now.In(loc)
	h := l.Hour()
	start, end := ns.QuietStartHour, ns.QuietEndHour
	var quiet, endsTomorrow bool
	if start < end {
		quiet = h >= start && h < end
	} else {
		quiet = h >= start || h < end
		endsTomorrow = h >= start
	}
	if !quiet {
		return time.Time{}, false
	}
	day := l
	if endsTomorrow {
		day = l.AddDate(0, 0, 1)
	}
	return time.Date(day.Year(), day.Month(), day.Day(), end, 0, 0, 0, loc).UTC(), true
}
