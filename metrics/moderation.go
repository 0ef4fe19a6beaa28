package metrics

import "github.com/prometheus/client_golang/prometheus"

var (
	// ModerationDecisions counts moderators' decisions by decision (dismiss, uphold) and target
	// type (poll, circle, user).
	ModerationDecisions = register(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "circly_moderation_decisions_total", Help: "Moderation decisions taken, by decision and target type.",
	}, []string{"decision", "target_type"}))
	// SanctionsApplied counts sanctions by the ladder's rung (1-based; the last may be removal).
	SanctionsApplied = register(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "circly_sanctions_applied_total", Help: "Sanctions applied to accounts, by rung of the ladder.",
	}, []string{"rung"}))
)

func init() {
	for _, d := range []string{"dismiss", "uphold"} {
		for _, t := range []string{"poll", "circle", "user"} {
			ModerationDecisions.WithLabelValues(d, t)
		}
	}
	for _, r := range []string{"1", "2", "3", "4"} {
		SanctionsApplied.WithLabelValues(r)
	}
}
