package circly

import "time"

// Poll is a poll as one member sees it. Counts are the released tally, never the live one.
type Poll struct {
	ID              string
	CircleID        string
	CreatorMemberID string
	TemplateID      string
	QuestionText    string
	Deadline        time.Time
	CreatedAt       time.Time
	ClosedAt        *time.Time
	TotalVotes      int // released
	Version         int
	IsClosed        bool
	UserVoted       bool
	Options         []Option
}

// Option is a member one can vote for in a poll.
type Option struct {
	ID             string
	MemberID       string
	MemberNickname string
	DisplayOrder   int
	VoteCount      int // released
	IsSelf         bool
}

// CreatePollRequest is a new poll.
type CreatePollRequest struct {
	CircleID   string
	TemplateID string
	Deadline   time.Time
}

// Due reports whether a poll has passed its deadline without being closed yet: the close job
// has not reached it, and a read must close it before showing it.
func (p Poll) Due(now time.Time) bool { return isDue(p.ClosedAt, p.Deadline, now) }

// PollFilter narrows ListPolls.
type PollFilter struct {
	CircleID string // "" = every circle of the user
	Status   string // active, closed or all
}

// PollDeleteWindow is how long after creation a poll may still be deleted.
const PollDeleteWindow = 24 * time.Hour

func isDue(closedAt *time.Time, deadline, now time.Time) bool {
	return closedAt == nil && !deadline.After(now)
}

// PollAudit is a poll's bookkeeping, for invariant checks: the participants must always equal
// the released votes plus the ballots waiting in the box, and the released counts must add up
// to the released total.
type PollAudit struct {
	Participants int
	Waiting      int // sealed ballots not yet opened
	Released     int // released_total
	CountSum     int // sum of the released counts
	Counts       []int
}

// PollClose is what closing a poll did: Closed is false when another caller closed it first
// (then nothing else is set).
type PollClose struct {
	Closed        bool
	Hidden        bool // hidden by reports: closed, and nobody is told (no notifications)
	PollID        string
	CircleID      string
	Results       Results // the exact final tally, now released
	Notifications []Notification
}

// DeadlineReminders are the minutes before a deadline at which members who have not voted
// are reminded, latest last.
var DeadlineReminders = []int{60, 10}

// Reminder is what deciding one deadline reminder did.
type Reminder struct {
	PollID        string
	CircleID      string
	Decided       bool // false: another caller decided it first
	Notifications []Notification
}
