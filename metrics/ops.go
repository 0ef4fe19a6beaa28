package metrics

import (
	"context"
	"database/sql"
	"errors"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// The series below exist for alerting (deploy/prometheus/alerts.yml): a job that stopped
// succeeding, a dependency /health/detailed reports down, a saturated database pool.

var (
	// JobInterval is each scheduled job's tick on this replica; only jobs this replica
	// schedules have it, so alerts join on it and ignore jobs that are switched off (push).
	JobInterval = register(prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "jobs_interval_seconds", Help: "Interval of each job this replica schedules.",
	}, []string{"job"}))
	// JobLastSuccess is when the job last ran without error here; it starts at the time the
	// job was scheduled, so a fresh replica does not look overdue.
	JobLastSuccess = register(prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "jobs_last_success_timestamp_seconds",
		Help: "Unix time of the job's last successful run on this replica (the time it was scheduled before its first).",
	}, []string{"job"}))
)

// ScheduleJob records that this replica runs the job every interval.
func ScheduleJob(name string, interval time.Duration) {
	DeclareJob(name)
	JobInterval.WithLabelValues(name).Set(interval.Seconds())
	JobLastSuccess.WithLabelValues(name).SetToCurrentTime()
}

// healthCheckTimeout bounds the dependency checks of one scrape.
const healthCheckTimeout = 5 * time.Second

// HealthProbe reports each dependency's state (database, redis, storage: true when up), as
// /health/detailed does.
type HealthProbe func(ctx context.Context) map[string]bool

var healthProbe atomic.Pointer[HealthProbe]

// SetHealthProbe makes health_dependency_up report probe's answer at each scrape; nil stops it.
func SetHealthProbe(probe HealthProbe) {
	if probe == nil {
		healthProbe.Store(nil)
		return
	}
	healthProbe.Store(&probe)
}

// healthCollector checks the dependencies when scraped, so the value is never older than the
// scrape and nothing runs between scrapes.
type healthCollector struct{ desc *prometheus.Desc }

var _ = register(healthCollector{desc: prometheus.NewDesc("health_dependency_up",
	"Whether this replica reaches a dependency (1) or not (0), as /health/detailed reports it.",
	[]string{"dependency"}, nil)})

func (h healthCollector) Describe(ch chan<- *prometheus.Desc) { ch <- h.desc }

func (h healthCollector) Collect(ch chan<- prometheus.Metric) {
	p := healthProbe.Load()
	if p == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), healthCheckTimeout)
	defer cancel()
	for dep, up := range (*p)(ctx) {
		v := 0.0
		if up {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(h.desc, prometheus.GaugeValue, v, dep)
	}
}

// RegisterDBPool exports the pool's statistics as go_sql_* with db_name="circly" (open, in use
// and idle connections, the limit, waits). The returned function unregisters it.
func RegisterDBPool(db *sql.DB) (unregister func(), err error) {
	c := collectors.NewDBStatsCollector(db, "circly")
	if err := Registry.Register(c); err != nil {
		var dup prometheus.AlreadyRegisteredError
		if errors.As(err, &dup) {
			return nil, errors.New("another database pool is already exported")
		}
		return nil, err
	}
	return func() { Registry.Unregister(c) }, nil
}
