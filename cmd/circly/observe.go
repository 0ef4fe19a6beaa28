package main

import (
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"circly/config"
	"circly/metrics"
	"circly/server"
	"circly/sqlstore"

	"github.com/getsentry/sentry-go"
	"go.uber.org/zap"
)

// initSentry turns error reporting on when SENTRY_DSN is set. The returned function flushes
// queued events; call it on the way out. Events never carry a request (see
// server.ScrubSentryEvent). Jobs' errors and panics go there too (see jobs.Scheduler).
func initSentry(cfg config.Config, log *zap.Logger) (flush func(), err error) {
	if cfg.SentryDSN == "" {
		return func() {}, nil
	}
	err = sentry.Init(sentry.ClientOptions{
		Dsn:              cfg.SentryDSN,
		Environment:      cfg.Env,
		Release:          "circly@" + version,
		SendDefaultPII:   false,
		AttachStacktrace: true,
		MaxBreadcrumbs:   -1,
		BeforeSend:       server.ScrubSentryEvent,
		// Transactions of HTTP requests (server.tracing) and job runs (jobs.Scheduler), a share
		// SENTRY_TRACES_SAMPLE_RATE of them, scrubbed like events.
		EnableTracing:         cfg.SentryTracesSampleRate > 0,
		TracesSampleRate:      cfg.SentryTracesSampleRate,
		BeforeSendTransaction: server.ScrubSentryEvent,
	})
	if err != nil {
		return nil, errors.New("SENTRY_DSN: " + err.Error())
	}
	log.Info("error reporting to Sentry is on", zap.Float64("traces_sample_rate", cfg.SentryTracesSampleRate))
	return func() { sentry.Flush(3 * time.Second) }, nil
}

// serveMetrics serves /metrics on METRICS_ADDR (a port kept off the public load balancer).
// It returns the bound listener's address and a function that stops it.
func serveMetrics(cfg config.Config, log *zap.Logger) (addr string, stop func(), err error) {
	ln, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		return "", nil, errors.New("METRICS_ADDR: " + err.Error())
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler())
	if cfg.MetricsPprof {
		// Opt-in and only here: profiles expose internals and cost CPU while running.
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	// A CPU profile or trace streams for its ?seconds=, so the write timeout leaves room for it.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 120 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener stopped", zap.Error(err))
		}
	}()
	log.Info("metrics are served apart", zap.String("addr", ln.Addr().String()))
	return ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// exportHealth adds to /metrics what the alerts watch besides the counters: the dependencies
// /health/detailed checks (health_dependency_up) and the database pool (go_sql_*).
func exportHealth(r *replica, db *sqlstore.DB, log *zap.Logger) {
	metrics.SetHealthProbe(r.srv.DependenciesUp)
	r.onClose(func() { metrics.SetHealthProbe(nil) })
	unregister, err := metrics.RegisterDBPool(db.SQL())
	if err != nil {
		log.Warn("database pool statistics are not exported", zap.Error(err))
		return
	}
	r.onClose(unregister)
}
