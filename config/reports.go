package config

// Reports is what members' reports set off on their own, before any moderator looks.
type Reports struct {
	// HidePollAt: pending reports from this many distinct reporters hide a poll from every
	// member; 0 = never.
	HidePollAt int
	// HideMemberAt: pending reports from this many distinct reporters about one membership stop
	// it creating polls in its circle until a review; 0 = never.
	HideMemberAt int
	// RateLimit is the reports one user may file per hour; 0 = no limit.
	RateLimit int
}

// reports reads REPORT_*. A threshold of 1 is refused: one person must never be able to hide a
// poll or restrict a member alone.
func (r *reader) reports() Reports {
	out := Reports{
		HidePollAt:   r.intRange("REPORT_HIDE_POLL_AT", 3, 0, 1000),
		HideMemberAt: r.intRange("REPORT_HIDE_MEMBER_AT", 5, 0, 1000),
		RateLimit:    r.intRange("REPORT_RATE_LIMIT", 10, 0, 1_000_000),
	}
	for _, t := range []struct {
		name string
		v    int
	}{{"REPORT_HIDE_POLL_AT", out.HidePollAt}, {"REPORT_HIDE_MEMBER_AT", out.HideMemberAt}} {
		if t.v == 1 {
			r.fail(t.name, "1", "expects 0 (off) or at least 2: one reporter alone must never hide a target")
		}
	}
	return out
}
