package sqlstore

import (
	"context"
	"time"

	"circly"
)

// UserStats counts the user's polls, ballots and circles and measures their streak.
//
// The store keeps no time for a ballot (anonymity), so "activity on a day" is: the user
// created a poll that day, or voted in a poll that opened that day. Polls last at most a day,
// so a ballot counts on the day its poll opened, which is the vote's day or the one before.
// Days are the user's local days (their timezone).
func (s *Store) UserStats(ctx context.Context, userID string) (circly.UserStats, error) {
	db := s.conn(ctx)
	var out circly.UserStats
	var row struct {
		Timezone      string
		PollsCreated  int64
		VotesCast     int64
		CirclesJoined int64
	}
	err := db.Raw(`SELECT u.timezone,
			(SELECT count(*) FROM poll_creations pc WHERE pc.user_id = u.id) AS polls_created,
			(SELECT count(*) FROM poll_participants pp WHERE pp.user_id = u.id) AS votes_cast,
			(SELECT count(*) FROM circle_members m JOIN circles c ON c.id = m.circle_id AND c.deleted_at IS NULL
				WHERE m.user_id = u.id AND m.left_at IS NULL) AS circles_joined
		FROM users u WHERE u.id = ?`, userID).Take(&row).Error
	if err != nil {
		return out, notFound(err, circly.ErrUnauthorized)
	}
	out.PollsCreated, out.VotesCast, out.CirclesJoined = row.PollsCreated, row.VotesCast, row.CirclesJoined
	out.StreakDays, err = s.streak(ctx, userID, location(row.Timezone))
	return out, err
}

// streak walks back from today through windows that double in length (a week, two, four...),
// so an ordinary user costs one small query and nobody costs more than a handful.
func (s *Store) streak(ctx context.Context, userID string, loc *time.Location) (int, error) {
	now := s.Now()
	today := localDay(now, loc)
	active := map[time.Time]bool{}
	from := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC) // the first window has no upper end
	for span := 7; ; span *= 2 {
		start := today.AddDate(0, 0, -min(span, circly.StreakMaxDays))
		var times []time.Time
		if err := s.conn(ctx).Raw(`SELECT created_at FROM poll_creations WHERE user_id = ? AND created_at >= ? AND created_at < ?
			UNION SELECT p.created_at FROM poll_participants pp JOIN polls p ON p.id = pp.poll_id
			WHERE pp.user_id = ? AND p.created_at >= ? AND p.created_at < ?`,
			userID, start.UTC(), from, userID, start.UTC(), from).Scan(&times).Error; err != nil {
			return 0, err
		}
		for _, t := range times {
			active[localDay(t, loc)] = true
		}
		n, gap := countStreak(active, today)
		// Settled once the first inactive day lies inside what has been read.
		if !gap.Before(start) || span >= circly.StreakMaxDays {
			return min(n, circly.StreakMaxDays), nil
		}
		from = start.UTC()
	}
}

// countStreak counts consecutive active days back from today, or from yesterday when today
// has no activity yet, and returns the inactive day that ends the run.
func countStreak(active map[time.Time]bool, today time.Time) (int, time.Time) {
	d := today
	if !active[d] {
		d = d.AddDate(0, 0, -1)
	}
	n := 0
	for active[d] {
		n++
		d = d.AddDate(0, 0, -1)
	}
	return n, d
}

// location loads an IANA zone, falling back to UTC for a name this host does not know.
func location(tz string) *time.Location {
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return time.UTC
	}
	return loc
}

// localDay is midnight of t's day in loc.
func localDay(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
}

// CircleStats counts a circle's polls and votes for one of its members, in two indexed reads of
// polls (plus the membership check). Votes per day are counted by the day their poll opened,
// since ballots carry no time.
func (s *Store) CircleStats(ctx context.Context, userID, circleID string) (circly.CircleStats, error) {
	db := s.conn(ctx)
	var viewer struct{ Timezone string }
	err := db.Raw(`SELECT u.timezone FROM users u
		JOIN circle_members m ON m.user_id = u.id AND m.circle_id = ? AND m.left_at IS NULL
		JOIN circles c ON c.id = m.circle_id AND c.deleted_at IS NULL
		WHERE u.id = ?`, circleID, userID).Take(&viewer).Error
	if err != nil {
		if err = notFound(err, circly.ErrNotFound); err == circly.ErrNotFound {
			return circly.CircleStats{}, s.circleAccessError(db, circleID)
		}
		return circly.CircleStats{}, err
	}
	now := s.Now()
	var tot struct {
		TotalPolls  int64
		TotalVotes  int64
		ClosedPolls int64
		ClosedVotes int64
		Eligible    int64
	}
	if err := db.Raw(`SELECT count(*) AS total_polls, COALESCE(sum(released_total), 0) AS total_votes,
			COALESCE(sum(CASE WHEN closed_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS closed_polls,
			COALESCE(sum(CASE WHEN closed_at IS NOT NULL THEN released_total ELSE 0 END), 0) AS closed_votes,
			COALESCE(sum(CASE WHEN closed_at IS NOT NULL THEN `+s.countsLength("released_counts")+` + 1 ELSE 0 END), 0) AS eligible
		FROM polls p WHERE p.circle_id = ? AND `+visiblePoll, circleID).Take(&tot).Error; err != nil {
		return circly.CircleStats{}, err
	}
	out := circly.CircleStats{CircleID: circleID, TotalPolls: tot.TotalPolls, TotalVotes: tot.TotalVotes, ClosedPolls: tot.ClosedPolls}
	if tot.Eligible > 0 {
		// A member who joined after a poll opened may vote in it, so cap at 1.
		out.ParticipationRate = min(1, float64(int64(float64(tot.ClosedVotes)/float64(tot.Eligible)*1000+0.5))/1000)
	}

	loc := location(viewer.Timezone)
	today := localDay(now, loc)
	first := today.AddDate(0, 0, -(circly.StatsDays - 1))
	var recent []struct {
		CreatedAt     time.Time
		ReleasedTotal int64
	}
	if err := db.Raw(`SELECT p.created_at, p.released_total FROM polls p WHERE p.circle_id = ? AND p.created_at >= ? AND `+visiblePoll,
		circleID, first.UTC()).Scan(&recent).Error; err != nil {
		return circly.CircleStats{}, err
	}
	index := map[time.Time]int{}
	for i := range circly.StatsDays {
		d := first.AddDate(0, 0, i)
		index[d] = i
		out.Daily = append(out.Daily, circly.DayStats{Date: d.Format(time.DateOnly)})
	}
	for _, r := range recent {
		if i, ok := index[localDay(r.CreatedAt, loc)]; ok {
			out.Daily[i].Polls++
			out.Daily[i].Votes += r.ReleasedTotal
		}
	}
	return out, nil
}

// countsLength is an SQL expression: how many counts the stored counts column holds (the
// poll's number of options).
func (s *Store) countsLength(col string) string {
	if s.dialect == Postgres {
		return "cardinality(" + col + ")"
	}
	return "json_array_length(" + col + ")"
}
