package circly

import (
	"fmt"
	"time"
)

// Report statuses after a moderator's decision: an upheld report is "reviewed", a rejected
// one "dismissed" (the names migration 00004 gave them).
const (
	ReportStatusReviewed  = "reviewed"
	ReportStatusDismissed = "dismissed"
)

// Decisions a moderator takes on a reported target.
const (
	DecisionDismiss = "dismiss"
	DecisionUphold  = "uphold"
)

// Decisions lists the decisions in the contract's order.
var Decisions = []string{DecisionDismiss, DecisionUphold}

// NotifyModeration is the notification type of a sanction: it names the step and the reason
// category, never who reported.
const NotifyModeration = "moderation"

// Error codes of moderation.
const (
	CodeAccountSanctioned Code = "ACCOUNT_SANCTIONED"
	CodeAlreadyDecided    Code = "ALREADY_DECIDED"
)

// ErrAlreadyDecided answers a decision on a target with no pending report left: another
// decision took them first.
var ErrAlreadyDecided = Errorf(CodeAlreadyDecided, "this target has no pending reports: it was already decided")

// SanctionStep is one rung of the ladder: a time without creating polls or joining circles,
// or (Remove) the account's removal.
type SanctionStep struct {
	Duration time.Duration
	Remove   bool
}

func (s SanctionStep) String() string {
	if s.Remove {
		return "remove"
	}
	return s.Duration.String()
}

// Ladder is the sanctions an account climbs, one rung per upheld report against it.
type Ladder []SanctionStep

// DefaultLadder is 24 hours, 7 days, 30 days, then removal (SANCTION_LADDER's default).
var DefaultLadder = Ladder{{Duration: 24 * time.Hour}, {Duration: 7 * 24 * time.Hour}, {Duration: 30 * 24 * time.Hour}, {Remove: true}}

// Rung is the step for an account's n-th upheld report (0-based); past the top it stays there.
func (l Ladder) Rung(n int) SanctionStep {
	if n >= len(l) {
		n = len(l) - 1
	}
	return l[n]
}

// Sanction is an account's active restriction: until Until it cannot create polls or join
// circles. Reason is the report category (bullying, inappropriate, spam, other).
type Sanction struct {
	Until  time.Time
	Reason string
	Rung   int // 1-based
}

// SanctionError is the ACCOUNT_SANCTIONED answer for s.
func SanctionError(s Sanction) *Error {
	return Errorf(CodeAccountSanctioned, "your account cannot do this until %s", s.Until.UTC().Format(time.RFC3339)).
		WithDetails(map[string]any{"until": s.Until.UTC().Format(time.RFC3339), "reason": s.Reason})
}

// Decision is a moderator's decision on one reported target.
type Decision struct {
	Operator   string
	TargetType string // poll, circle or user (a membership)
	TargetID   string
	Action     string // dismiss or uphold
	Reason     string // why: required, written to the audit log
	DeletePoll bool   // uphold on a poll: delete it too
}

// DecisionResult is what a decision changed; the use-case layer announces it.
type DecisionResult struct {
	AuditID     string
	Reports     int  // pending reports decided
	PollHidden  bool // the poll was hidden by this decision (it was visible)
	PollShown   bool // a dismiss restored a hidden poll
	PollDeleted bool
	CircleID    string // of the poll or membership
	Restricted  bool   // a dismiss lifted a member's restriction
	Sanction    *AppliedSanction
	// Removed holds the ended memberships when the ladder removed the account, and
	// RemovedUploads the ids of its uploaded files (their rows are gone; the caller deletes the
	// files, as account deletion does).
	Removed        []EndedMembership
	RemovedUploads []string
	Notifications  []Notification
}

// AppliedSanction is the rung an uphold put an account on.
type AppliedSanction struct {
	UserID string
	Rung   int // 1-based
	Step   SanctionStep
	Until  *time.Time // nil for removal
	Reason string
}

// ReportedTarget is one line of the moderation queue: a target's pending reports together.
type ReportedTarget struct {
	TargetType    string
	TargetID      string
	Reports       int
	Reporters     int
	Reasons       []string
	FirstReported time.Time
	LastReported  time.Time
	Hidden        bool
}

// TargetContent is what a moderator sees of a target: its words, never who voted for whom.
type TargetContent struct {
	TargetType   string
	TargetID     string
	Exists       bool
	CircleID     string
	CircleName   string
	QuestionText string     // poll
	PollClosed   bool       // poll
	HiddenAt     *time.Time // poll
	Nickname     string     // user (membership)
	Left         bool       // user: the membership ended
	RestrictedAt *time.Time // user
	MemberCount  int        // circle
	Sanctions    int        // user: rungs the account has climbed
	ActiveUntil  *time.Time // user: an active sanction's end
	Reports      []TargetReport
}

// TargetReport is one pending report as the moderator sees it: never its reporter.
type TargetReport struct {
	Reason      string
	Description *string
	CreatedAt   time.Time
}

// AuditEntry is one row of the append-only audit log.
type AuditEntry struct {
	ID         string
	Operator   string
	Action     string
	TargetType string
	TargetID   string
	Reason     string
	Details    string // JSON object
	CreatedAt  time.Time
}

// reasonWords are the report categories in the notification's language.
var reasonWords = map[string]string{"bullying": "괴롭힘", "inappropriate": "부적절한 내용", "spam": "스팸", "other": "기타"}

// SanctionText tells a member that reports against them were upheld: the category and until
// when, never who reported.
func SanctionText(reason string, until time.Time, loc *time.Location) (title, message string) {
	word := reasonWords[reason]
	if word == "" {
		word = reasonWords["other"]
	}
	return "신고가 확인되어 이용이 제한됐어요",
		fmt.Sprintf("사유: %s. %s까지 투표를 만들거나 서클에 참여할 수 없어요.", word, until.In(loc).Format("2006-01-02 15:04"))
}
