package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"circly/app"
	"circly/config"
	"circly/hub"
	"circly/jobs"
	"circly/server"

	"go.uber.org/zap"
)

// serve runs the service until ctx ends: build, run, shutdown. When ready is not nil it
// receives the bound address (tests listen on port 0).
func serve(ctx context.Context, cfg config.Config, ready chan<- string) error {
	r, err := build(ctx, cfg)
	defer r.close()
	if err != nil {
		return err
	}
	if err := r.run(ctx, ready); err != nil {
		return err
	}
	r.shutdown()
	return nil
}

// replica is one running service: the parts build made, and what undoes them.
type replica struct {
	cfg       config.Config
	log       *zap.Logger
	closers   []func() // run last to first by close
	app       *app.Service
	live      *hub.Hub
	srv       *server.Server
	httpSrv   *http.Server
	ln        net.Listener
	scheduler *jobs.Scheduler
}

// onClose registers fn to run when the replica closes, before what was registered earlier.
func (r *replica) onClose(fn func()) { r.closers = append(r.closers, fn) }

// close releases what build acquired, last first (connections to Redis and the database last).
func (r *replica) close() {
	for i := len(r.closers) - 1; i >= 0; i-- {
		r.closers[i]()
	}
}

// run serves HTTP and runs the jobs until ctx ends (nil) or the server fails (its error).
func (r *replica) run(ctx context.Context, ready chan<- string) error {
	mode := "embedded: SQLite at " + r.cfg.SQLitePath() + ", in-memory broker"
	if r.cfg.UsesPostgres() {
		mode = "distributed: PostgreSQL"
		if r.cfg.UsesRedis() {
			mode += " + Redis"
		}
	}
	port := r.cfg.Port
	if addr, ok := r.ln.Addr().(*net.TCPAddr); ok {
		port = addr.Port
	}
	r.log.Info("Circly is listening", zap.String("url", fmt.Sprintf("http://localhost:%d", port)), zap.String("mode", mode))
	if ready != nil {
		ready <- r.ln.Addr().String()
	}
	errc := make(chan error, 1)
	go func() { errc <- r.httpSrv.Serve(r.ln) }()
	r.scheduler.Start() // after the server is listening
	select {
	case err := <-errc:
		_ = r.scheduler.Stop()
		return err
	case <-ctx.Done():
		return nil
	}
}

// shutdown stops the replica in order: /health turns 503 (and, for SHUTDOWN_DELAY, the replica
// keeps serving so that a load balancer polling it moves traffic away); the hub tells its
// WebSocket clients to reconnect elsewhere, spread over SHUTDOWN_DRAIN with jitter, and closes
// them with 1001, ending when the last one has gone (at once when none was open); in-flight
// requests finish; the activity writer, the jobs and the republisher stop. A second signal
// skips the waiting. close then releases the hub, the broker, Redis and the database.
func (r *replica) shutdown() {
	cfg, log := r.cfg, r.log
	r.srv.StartDraining()
	log.Info("draining: /health answers 503; send the signal again to stop at once",
		zap.Duration("delay", cfg.ShutdownDelay), zap.Duration("window", cfg.ShutdownDrain), zap.Int("websockets", r.live.Connections()))
	again := make(chan os.Signal, 1)
	signal.Notify(again, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(again)
	if waitOrSignal(cfg.ShutdownDelay, again) {
		drainCtx, stopDrain := context.WithTimeout(context.Background(), cfg.ShutdownDrain+5*time.Second)
		defer stopDrain()
		drained := make(chan struct{})
		started := time.Now()
		go func() { r.live.Drain(drainCtx, cfg.ShutdownDrain); close(drained) }()
		select {
		case <-drained: // bounded by drainCtx: the closes are spread over the window
			log.Info("drained", zap.Duration("took", time.Since(started)))
		case <-again:
			stopDrain()
		}
	}
	log.Info("shutting down")
	shutdownCtx, cancelShutdown := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancelShutdown()
	if err := r.httpSrv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("shutdown", zap.Error(err))
	}
	r.srv.Close() // writes the activity still queued
	if err := r.scheduler.Stop(); err != nil {
		log.Warn("stopping jobs", zap.Error(err))
	}
	r.app.Close(shutdownCtx) // the last publishers have stopped: empty the republish queue
	log.Info("stopped")
}

// waitOrSignal waits d; it reports false when a signal came first.
func waitOrSignal(d time.Duration, sig <-chan os.Signal) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-sig:
		return false
	}
}
