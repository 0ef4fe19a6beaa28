package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"circly/auth"
	"circly/config"
	"circly/models"
	"circly/ratelimit"
	"circly/server"
	"circly/storage"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func newLogger(cfg config.Config) (*zap.Logger, error) {
	var zc zap.Config
	if cfg.LogFormat == "console" {
		zc = zap.NewDevelopmentConfig()
		zc.EncoderConfig.EncodeLevel = zapcore.CapitalColorLevelEncoder
	} else {
		zc = zap.NewProductionConfig()
		zc.EncoderConfig.TimeKey = "time"
		zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	}
	if err := zc.Level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return nil, err
	}
	zc.DisableStacktrace = true
	return zc.Build()
}

// redisLog sends go-redis's own messages (dial failures while Redis is down) through zap
// instead of the standard logger's stderr lines.
type redisLog struct{ l *zap.SugaredLogger }

func (r redisLog) Printf(_ context.Context, format string, v ...any) { r.l.Warnf(format, v...) }

type redisPinger struct{ c *redis.Client }

func (r redisPinger) Ping(ctx context.Context) error { return r.c.Ping(ctx).Err() }

// serve runs the service until ctx ends. When ready is not nil it receives the bound address
// (tests listen on port 0).
func serve(ctx context.Context, cfg config.Config, ready chan<- string) error {
	log, err := newLogger(cfg)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	log.Info("starting circly", zap.String("version", version), zap.Any("config", cfg.Masked()))
	if cfg.SecretGenerated {
		log.Warn("SECRET_KEY is not set: using a random key, so tokens will not survive a restart")
	}
	flushSentry, err := initSentry(cfg, log)
	if err != nil {
		return err
	}
	defer flushSentry()

	db, err := models.Open(models.OpenOptions{PostgresURL: cfg.DatabaseURL, SQLitePath: cfg.SQLitePath(),
		MaxOpenConns: cfg.DBMaxOpenConns, Logger: log})
	if err != nil {
		return err
	}
	defer db.Close()
	startCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := db.Ping(startCtx); err != nil {
		return fmt.Errorf("database unreachable: %w", err)
	}
	if cfg.AutoMigrate {
		n, err := db.MigrateUp(startCtx)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		log.Info("migrations applied", zap.Int("count", n))
	} else if err := db.CheckSchema(startCtx); err != nil {
		return err
	}

	var redisHealth server.Pinger
	var limiter ratelimit.Limiter // nil: in memory
	var rc *redis.Client
	if cfg.UsesRedis() {
		opts, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return fmt.Errorf("REDIS_URL: %w", err)
		}
		opts.ContextTimeoutEnabled = true // let request contexts bound Redis calls (go-redis ignores them otherwise)
		redis.SetLogger(redisLog{log.Named("redis").Sugar()})
		rc = redis.NewClient(opts)
		defer rc.Close()
		if err := rc.Ping(startCtx).Err(); err != nil {
			return fmt.Errorf("redis unreachable: %w", err)
		}
		redisHealth = redisPinger{rc}
		limiter = ratelimit.NewRedis(rc, "circly:")
	}

	policy := models.DefaultPolicy()
	policy.TallyReleaseBatch = cfg.TallyReleaseBatch
	policy.PollOpenLimit = cfg.PollOpenLimit
	policy.PollDailyLimit = cfg.PollDailyLimit
	policy.PollMinDuration = cfg.PollMinDuration
	policy.PollMaxDuration = cfg.PollMaxDuration
	policy.RefreshTokenTTL = cfg.RefreshTokenTTL
	box, err := ballotBox(cfg, log)
	if err != nil {
		return err
	}
	store := models.NewStore(db, policy, box)
	if err := store.CheckBallotKey(startCtx); err != nil {
		return err
	}
	files, err := storage.NewLocal(filepath.Join(cfg.DataDir, "uploads"))
	if err != nil {
		return err
	}

	broker, appSvc, live, err := startLive(startCtx, cfg, store, rc, log)
	if err != nil {
		return err
	}
	defer func() { _ = broker.Close() }()
	defer live.Close()

	srv := server.New(server.Deps{
		Config: cfg, Store: store, Tokens: auth.NewTokens(cfg.SecretKey, cfg.AccessTokenTTL),
		Log: log, DB: db, Redis: redisHealth, Version: version, Storage: files,
		Limiter: limiter,
		App:     appSvc, Hub: live,
	})
	if cfg.MetricsAddr != "" {
		_, stopMetrics, err := serveMetrics(cfg, log)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(cfg.Port)))
	if err != nil {
		return err
	}
	httpSrv := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	mode := "embedded: SQLite at " + cfg.SQLitePath() + ", in-memory broker"
	if cfg.UsesPostgres() {
		mode = "distributed: PostgreSQL"
		if cfg.UsesRedis() {
			mode += " + Redis"
		}
	}
	port := cfg.Port
	if addr, ok := ln.Addr().(*net.TCPAddr); ok {
		port = addr.Port
	}
	log.Info("Circly is listening", zap.String("url", fmt.Sprintf("http://localhost:%d", port)), zap.String("mode", mode))
	if ready != nil {
		ready <- ln.Addr().String()
	}

	scheduler, err := newScheduler(cfg, appSvc, rc, log)
	if err != nil {
		_ = ln.Close()
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- httpSrv.Serve(ln) }()
	scheduler.Start() // after the server is listening
	select {
	case err := <-errc:
		_ = scheduler.Stop()
		return err
	case <-ctx.Done():
	}

	// Ordered shutdown: /health turns 503 (and, for SHUTDOWN_DELAY, the replica keeps serving so
	// that a load balancer polling it moves traffic away); the hub tells its WebSocket clients
	// to reconnect elsewhere, spread over SHUTDOWN_DRAIN with jitter, and closes them with 1001.
	// The drain ends when the last one has gone, at once when none was open. Then in-flight
	// requests finish and the deferred closes (Redis, database) run. A second signal skips the
	// waiting.
	srv.StartDraining()
	log.Info("draining: /health answers 503; send the signal again to stop at once",
		zap.Duration("delay", cfg.ShutdownDelay), zap.Duration("window", cfg.ShutdownDrain), zap.Int("websockets", live.Connections()))
	again := make(chan os.Signal, 1)
	signal.Notify(again, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(again)
	if waitOrSignal(cfg.ShutdownDelay, again) {
		drainCtx, stopDrain := context.WithTimeout(context.Background(), cfg.ShutdownDrain+5*time.Second)
		defer stopDrain()
		drained := make(chan struct{})
		started := time.Now()
		go func() { live.Drain(drainCtx, cfg.ShutdownDrain); close(drained) }()
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
	if err := httpSrv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("shutdown", zap.Error(err))
	}
	srv.Close()
	if err := scheduler.Stop(); err != nil {
		log.Warn("stopping jobs", zap.Error(err))
	}
	log.Info("stopped")
	return nil
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
