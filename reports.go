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
