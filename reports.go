package circly

import "time"

// ReportStatusPending is the status of a report nobody has looked at yet.
const ReportStatusPending = "pending"

// Report is a user's complaint about a poll, a circle or a member. For a user report the
// target is a membership id: the reporter never knows, and the report never holds, a user id.
type Report struct {
	ID          string
	Type        string
	TargetID    string
	Reason      string
	Description *string
	Status      string
	CreatedAt   time.Time
}

// NewReport is a report to file.
type NewReport struct {
	Type        string
	TargetID    string
	Reason      string
	Description *string
}

// What a report can be about and why.
var (
	ReportTypes   = []string{"poll", "circle", "user"}
	ReportReasons = []string{"bullying", "inappropriate", "spam", "other"}
)

// AutoHide is what filing a report set off: the report that brought its target's pending
// reports from distinct reporters to the threshold hides the poll (PollID) or restricts the
// membership (MemberID). Both empty: nothing crossed, or the target was hidden already.
type AutoHide struct {
	PollID   string
	MemberID string
	CircleID string // the poll's or the membership's circle
}
