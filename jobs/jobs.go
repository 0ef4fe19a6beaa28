package jobs

import (
	"time"

	"go.uber.org/zap"
)

// Settings tune the jobs; zero fields take the defaults (Defaults()).
type Settings struct {
	CloseInterval    time.Duration // close polls past their deadline (≤ 1–2 s: a poll closes within 5 s of it)
	OpenInterval     time.Duration // open ballot boxes a vote left due (a replica died between its two steps)
	ReminderInterval time.Duration // deadline reminders
	PushInterval     time.Duration // push dispatch from the outbox
	ReceiptInterval  time.Duration // push receipts
	GaugeInterval    time.Duration // active_polls_total, active_users_24h
	CleanupInterval  time.Duration // expired tokens, old read notifications, expired invite codes
	UsageInterval    time.Duration // fold poll creations into the templates' usage_count

	PushClaim       int           // pushes one dispatch run takes
	PushLease       time.Duration // how long a claimed push is ours before another dispatcher may retry it
	PushMaxAttempts int           // attempts (each with the client's own retries) before an outbox row fails
	PushBaseBackoff time.Duration // wait before the second attempt, doubling after
	PushMaxBackoff  time.Duration
	ReceiptDelay    time.Duration // how long after sending receipts are checked (Expo: about 15 min)

	ReadNotificationTTL time.Duration // read notifications older than this are deleted
	// ExpiredGrace is how long an expired invite code keeps answering 410 and an expired refresh
	// token TOKEN_EXPIRED before clean-up frees or deletes them.
	ExpiredGrace time.Duration
}

// Defaults are the production settings.
func Defaults() Settings {
	return Settings{
		CloseInterval: time.Second, OpenInterval: 5 * time.Second, ReminderInterval: 10 * time.Second, PushInterval: time.Second,
		ReceiptInterval: time.Minute, GaugeInterval: 15 * time.Second, CleanupInterval: time.Hour,
		UsageInterval: 30 * time.Second, PushClaim: 500, PushLease: 2 * time.Minute, PushMaxAttempts: 10,
		PushBaseBackoff: 5 * time.Second, PushMaxBackoff: 5 * time.Minute, ReceiptDelay: 15 * time.Minute,
		ReadNotificationTTL: 90 * 24 * time.Hour, ExpiredGrace: 7 * 24 * time.Hour,
	}
}

func (s Settings) withDefaults() Settings {
	d := Defaults()
	set := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&s.CloseInterval, d.CloseInterval)
	set(&s.OpenInterval, d.OpenInterval)
	set(&s.ReminderInterval, d.ReminderInterval)
	set(&s.PushInterval, d.PushInterval)
	set(&s.ReceiptInterval, d.ReceiptInterval)
	set(&s.GaugeInterval, d.GaugeInterval)
	set(&s.CleanupInterval, d.CleanupInterval)
	set(&s.UsageInterval, d.UsageInterval)
	set(&s.PushLease, d.PushLease)
	set(&s.PushBaseBackoff, d.PushBaseBackoff)
	set(&s.PushMaxBackoff, d.PushMaxBackoff)
	set(&s.ReceiptDelay, d.ReceiptDelay)
	set(&s.ReadNotificationTTL, d.ReadNotificationTTL)
	set(&s.ExpiredGrace, d.ExpiredGrace)
	if s.PushClaim <= 0 {
		s.PushClaim = d.PushClaim
	}
	if s.PushMaxAttempts <= 0 {
		s.PushMaxAttempts = d.PushMaxAttempts
	}
	return s
}

// Deps are what the jobs work with.
type Deps struct {
	App  App    // app.Service
	Push Pusher // nil: no push dispatch or receipts (pushes wait in the outbox)
	Log  *zap.Logger
}

// Runner holds the jobs' dependencies and settings.
type Runner struct {
	app  App
	push Pusher
	log  *zap.Logger
	set  Settings
}

// NewRunner returns the jobs of the service over deps.
func NewRunner(d Deps, s Settings) *Runner {
	if d.Log == nil {
		d.Log = zap.NewNop()
	}
	return &Runner{app: d.App, push: d.Push, log: d.Log, set: s.withDefaults()}
}

// Job names (metric labels and lock keys).
const (
	JobClosePolls  = "close_polls"
	JobOpenBallots = "open_ballots"
	JobReminders   = "deadline_reminders"
	JobPushSend    = "push_dispatch"
	JobPushReceipt = "push_receipts"
	JobGauges      = "gauges"
	JobCleanup     = "cleanup"
	JobUsage       = "template_usage"
)

// Jobs lists every job with its interval.
func (r *Runner) Jobs() []Job {
	js := []Job{
		{Name: JobClosePolls, Interval: r.set.CloseInterval, Run: r.ClosePolls},
		{Name: JobOpenBallots, Interval: r.set.OpenInterval, Run: r.OpenBallots},
		{Name: JobReminders, Interval: r.set.ReminderInterval, Run: r.Reminders},
		{Name: JobGauges, Interval: r.set.GaugeInterval, Run: r.Gauges, PerReplica: true},
		{Name: JobCleanup, Interval: r.set.CleanupInterval, Run: r.Cleanup},
		{Name: JobUsage, Interval: r.set.UsageInterval, Run: r.FoldTemplateUses},
	}
	if r.push != nil {
		js = append(js,
			Job{Name: JobPushSend, Interval: r.set.PushInterval, Run: r.DispatchPushes},
			Job{Name: JobPushReceipt, Interval: r.set.ReceiptInterval, Run: r.CheckReceipts})
	}
	return js
}

// Job returns one job by name (tests run single ticks).
func (r *Runner) Job(name string) Job {
	for _, j := range r.Jobs() {
		if j.Name == name {
			return j
		}
	}
	panic("jobs: no job " + name)
}
