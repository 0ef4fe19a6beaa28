package metrics

// A vector metric shows in /metrics only once one of its label sets has been used, so a fresh
// replica would hide ws_dropped_total, jobs_runs_total and the rest until the first event. The
// label values below are created at start (with zero counts), so every metric the contract
// names is in the first scrape and dashboards and alerts see 0 rather than "no data". Code that
// introduces a new label value adds it here; the HTTP series are created per route by the
// server when it builds its router (see server.initRouteMetrics).

// Result label values shared by the counters that have a result label.
const (
	ResultOK    = "ok"
	ResultError = "error"
)

// knownJobs, knownDropReasons and knownPushResults are the label values created at start.
var (
	// The scheduled jobs' names (jobs/, DESIGN.md "Scheduled jobs").
	knownJobs        = []string{"close_polls", "deadline_reminders", "push_dispatch", "push_receipts", "gauges", "cleanup", "template_usage"}
	knownDropReasons = []string{"conflated", "stale", "slow_consumer", "too_many_errors"}
	knownPushResults = []string{ResultOK, ResultError, "retry"}
)

func init() {
	for _, r := range []string{ResultOK, ResultError} {
		RealtimePublish.WithLabelValues(r)
	}
	for _, r := range knownDropReasons {
		WSDropped.WithLabelValues(r)
	}
	for _, r := range knownPushResults {
		PushSent.WithLabelValues(r)
	}
	for _, j := range knownJobs {
		DeclareJob(j)
	}
	for _, b := range []string{"api", "auth", "poll_create", "upload"} {
		RateLimited.WithLabelValues(b)
	}
}

// DeclareJob creates a job's series (runs by result, duration) so the job shows in /metrics
// before its first run. The scheduler calls it for each job it registers.
func DeclareJob(name string) {
	for _, r := range []string{ResultOK, ResultError, "skipped"} {
		JobRuns.WithLabelValues(name, r)
	}
	JobDuration.WithLabelValues(name)
}
