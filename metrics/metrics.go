// Package metrics holds every Prometheus metric the service exports, in one registry, so the
// names the contract promises live in one file and tests can scrape them. Labels are bounded:
// route patterns, never raw paths or ids.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Registry is what /metrics serves.
var Registry = prometheus.NewRegistry()

func init() {
	Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
}

var (
	// HTTPRequests counts answered requests by route pattern ("unmatched" for 404s).
	HTTPRequests = register(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "http_requests_total", Help: "HTTP requests answered, by method, route pattern and status.",
	}, []string{"method", "route", "status"}))
	// HTTPDuration times requests by route pattern.
	HTTPDuration = register(prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "http_request_duration_seconds", Help: "HTTP request latency by method and route pattern.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"method", "route"}))

	// ActivePolls and ActiveUsers24h are set by the gauges job.
	ActivePolls    = register(prometheus.NewGauge(prometheus.GaugeOpts{Name: "active_polls_total", Help: "Open polls."}))
	ActiveUsers24h = register(prometheus.NewGauge(prometheus.GaugeOpts{Name: "active_users_24h", Help: "Users active in the last 24 hours."}))

	// WSConnections is the number of live WebSocket connections on this replica.
	WSConnections = register(prometheus.NewGauge(prometheus.GaugeOpts{Name: "ws_connections", Help: "Open WebSocket connections on this replica."}))
	// WSMessagesSent counts frames written to clients.
	WSMessagesSent = register(prometheus.NewCounter(prometheus.CounterOpts{Name: "ws_messages_sent_total", Help: "WebSocket frames sent to clients."}))
	// WSDropped counts frames or connections dropped, by reason (conflated, slow_consumer, ...).
	WSDropped = register(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ws_dropped_total", Help: "WebSocket frames not sent or connections cut, by reason.",
	}, []string{"reason"}))
	// RealtimePublish counts publications to the broker, by result.
	RealtimePublish = register(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "realtime_publish_total", Help: "Messages published to the realtime broker, by result.",
	}, []string{"result"}))
	// BrokerReconnects counts times the broker's link came back after a loss.
	BrokerReconnects = register(prometheus.NewCounter(prometheus.CounterOpts{
		Name: "realtime_broker_reconnects_total", Help: "Times the realtime broker's link came back after being lost.",
	}))

	// JobRuns counts scheduled job runs by job and result (ok, error, skipped).
	JobRuns = register(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "jobs_runs_total", Help: "Scheduled job runs by job and result.",
	}, []string{"job", "result"}))
	// JobDuration times job runs.
	JobDuration = register(prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "jobs_run_duration_seconds", Help: "Scheduled job run time by job.",
		Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5, 10, 30},
	}, []string{"job"}))
	// PushSent counts push messages by result (ok, error, retry, dropped...).
	PushSent = register(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "push_sent_total", Help: "Push messages handed to the Expo service, by result.",
	}, []string{"result"}))
)

func register[C prometheus.Collector](c C) C {
	Registry.MustRegister(c)
	return c
}

// BackupLastSuccess is when the newest good off-site backup finished (unix seconds; 0: none).
// `circly backup` runs as its own process and records each good backup in the database; every
// replica sets this from there (the gauges job), so an alert sees it on any of them.
var BackupLastSuccess = register(prometheus.NewGauge(prometheus.GaugeOpts{
	Name: "circly_backup_last_success_timestamp_seconds",
	Help: "Unix time the newest verified off-site backup finished; 0 when there is none.",
}))
