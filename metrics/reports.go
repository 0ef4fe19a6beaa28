package metrics

import "github.com/prometheus/client_golang/prometheus"

// Report target types and the types an auto-hide acts on (bounded label values).
var (
	reportTypes   = []string{"poll", "circle", "user"}
	autoHideTypes = []string{"poll", "user"}
)

var (
	// Reports counts reports filed, by target type. Never a reporter or a target: only the type.
	Reports = register(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "circly_reports_total", Help: "Reports filed by members, by target type (poll, circle, user).",
	}, []string{"type"}))
	// AutoHides counts targets hidden by reaching a report threshold: a poll hidden
	// (REPORT_HIDE_POLL_AT) or a membership restricted (REPORT_HIDE_MEMBER_AT).
	AutoHides = register(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "circly_auto_hides_total", Help: "Polls hidden and members restricted by reports reaching a threshold, by type (poll, user).",
	}, []string{"type"}))
)

func init() {
	for _, t := range reportTypes {
		Reports.WithLabelValues(t)
	}
	for _, t := range autoHideTypes {
		AutoHides.WithLabelValues(t)
	}
	RateLimited.WithLabelValues("report") // the per-user report budget (server/ratelimit.go)
}
