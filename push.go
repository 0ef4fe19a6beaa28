package circly

import "time"

// PushJob is a claimed push with what the dispatcher needs to decide on it and send it.
type PushJob struct {
	NotificationID string
	UserID         string
	Type           string
	Title          string
	Message        string
	PollID         string
	CircleID       string
	Attempts       int
	CountedDay     *string
	Token          string // "" when the user has no active push token
	Timezone       string
	CircleDeleted  bool
	PollOver       bool                 // closed or past its deadline
	PollHidden     bool                 // hidden by reports: no push may point at it
	Settings       NotificationSettings `gorm:"-"`
}

// SentPush is a push whose receipt is still to be checked.
type SentPush struct {
	NotificationID string
	UserID         string
	Token          string
	TicketID       string
	SentAt         time.Time
}

// PushRecord is a push_outbox row as operators (and tests) read it.
type PushRecord struct {
	NotificationID string
	UserID         string
	Status         string
	Attempts       int
	NextAttemptAt  time.Time
	LastError      *string
	TicketID       *string
	ReceiptStatus  *string
	SentAt         *time.Time
}

// Statuses of a push_outbox row.
const (
	PushPending = "pending" // waits for next_attempt_at
	PushSending = "sending" // claimed by a dispatcher until claimed_until
	PushSent    = "sent"    // accepted by the push service; its receipt is checked later
	PushFailed  = "failed"  // given up; last_error says why
	PushDropped = "dropped" // over the user's daily cap
	PushSkipped = "skipped" // type turned off, no active token, the circle is gone, or news of an open poll came too late
)
