package circly

// UserStats sums up one user's activity.
type UserStats struct {
	PollsCreated  int64 // every poll they created, deleted ones included (poll_creations)
	VotesCast     int64 // polls they have voted in
	CirclesJoined int64 // circles they are an active member of now
	StreakDays    int   // consecutive local days with activity, ending today or yesterday
}

// StreakMaxDays bounds how far back a streak is counted.
const StreakMaxDays = 366

// CircleStats sums up a circle's polls.
type CircleStats struct {
	CircleID    string
	TotalPolls  int64
	TotalVotes  int64 // released votes (the tallies members see)
	ClosedPolls int64
	// ParticipationRate is ballots cast in closed polls over the ballots those polls allowed
	// (their options plus the creator: the members when each poll opened), 0..1; 0 when no
	// poll has closed.
	ParticipationRate float64
	Daily             []DayStats // the last 7 local days of the viewer, oldest first, today last
}

// DayStats is one day of a circle: polls that opened that day and the votes they hold.
type DayStats struct {
	Date  string // YYYY-MM-DD, the viewer's local day
	Polls int64
	Votes int64
}

// StatsDays is how many days CircleStats.Daily covers.
const StatsDays = 7
