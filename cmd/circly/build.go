package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"circly"
	"circly/auth"
	"circly/config"
	"circly/ratelimit"
	"circly/revoked"
	"circly/server"
	"circly/sqlstore"
	"circly/storage"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// build opens the database and Redis, checks the schema and the ballot key, and wires the
// store, the live hub, the HTTP server, its listener and the scheduler; nothing serves yet.
func build(ctx context.Context, cfg config.Config) (*replica, error) {
	r := &replica{cfg: cfg}
	log, err := newLogger(cfg)
	if err != nil {
		return r, err
	}
	r.log = log
	r.onClose(func() { _ = log.Sync() })
	log.Info("starting circly", zap.String("version", version), zap.Any("config", cfg.Masked()))
	if cfg.SecretGenerated {
		log.Warn("SECRET_KEY is not set: using a random key, so tokens will not survive a restart")
	}
	flushSentry, err := initSentry(cfg, log)
	if err != nil {
		return r, err
	}
	r.onClose(flushSentry)

	startCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	db, err := openDatabase(startCtx, cfg, log)
	if err != nil {
		return r, sqlstore.PoolerHint(err)
	}
	r.onClose(func() { _ = db.Close() })
	rc, err := openRedis(startCtx, cfg, log)
	if err != nil {
		return r, err
	}
	var redisHealth server.Pinger
	var limiter ratelimit.Limiter // nil: in memory
	if rc != nil {
		r.onClose(func() { _ = rc.Close() })
		redisHealth, limiter = redisPinger{rc}, ratelimit.NewRedis(rc, "circly:")
	}
	box, err := ballotBox(cfg, log)
	if err != nil {
		return r, err
	}
	store := sqlstore.NewStore(db, policyOf(cfg), box)
	if err := store.CheckBallotKey(startCtx); err != nil {
		return r, err
	}
	files, err := storage.NewLocal(filepath.Join(cfg.DataDir, "uploads"))
	if err != nil {
		return r, err
	}
	gone := &revoked.Accounts{} // marked by the hub, read by REST authentication too
	broker, appSvc, live, err := startLive(startCtx, cfg, store, rc, gone, log)
	if err != nil {
		return r, err
	}
	r.onClose(func() { _ = broker.Close() })
	r.onClose(live.Close)
	r.app, r.live = appSvc, live
	r.srv = server.New(server.Deps{
		Config: cfg, Tokens: auth.NewTokens(cfg.SecretKey, cfg.AccessTokenTTL),
		Log: log, DB: db, Redis: redisHealth, Version: version, Storage: files,
		Limiter: limiter, App: appSvc, Hub: live, Revoked: gone,
	})
	exportHealth(r, db, log)
	if cfg.MetricsAddr != "" {
		_, stopMetrics, err := serveMetrics(cfg, log)
		if err != nil {
			return r, err
		}
		r.onClose(stopMetrics)
	}
	if r.ln, err = net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(cfg.Port))); err != nil {
		return r, err
	}
	r.onClose(func() { _ = r.ln.Close() })
	r.httpSrv = &http.Server{
		Handler:           r.srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	r.scheduler, err = newScheduler(cfg, appSvc, rc, log)
	return r, err
}

// openDatabase connects, and migrates (AUTO_MIGRATE) or checks that the schema is current.
func openDatabase(ctx context.Context, cfg config.Config, log *zap.Logger) (*sqlstore.DB, error) {
	db, err := sqlstore.Open(sqlstore.OpenOptions{PostgresURL: cfg.DatabaseURL, SQLitePath: cfg.SQLitePath(),
		MaxOpenConns: cfg.DBMaxOpenConns, Logger: log})
	if err != nil {
		return nil, err
	}
	if err := db.Ping(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("database unreachable: %w", err)
	}
	if cfg.AutoMigrate {
		n, err := db.MigrateUp(ctx)
		if err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("migrate: %w", err)
		}
		log.Info("migrations applied", zap.Int("count", n))
	} else if err := db.CheckSchema(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// openRedis connects to REDIS_URL; nil without one (the embedded mode).
func openRedis(ctx context.Context, cfg config.Config, log *zap.Logger) (redis.UniversalClient, error) {
	if !cfg.UsesRedis() {
		return nil, nil
	}
	if cfg.RedisCluster {
		return openRedisCluster(ctx, cfg, log)
	}
	opts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	opts.ContextTimeoutEnabled = true // let request contexts bound Redis calls (go-redis ignores them otherwise)
	redis.SetLogger(redisLog{log.Named("redis").Sugar()})
	rc := redis.NewClient(opts)
	if err := rc.Ping(ctx).Err(); err != nil {
		_ = rc.Close()
		return nil, fmt.Errorf("redis unreachable: %w", err)
	}
	return rc, nil
}

// policyOf is the store's rules from the settings.
func policyOf(cfg config.Config) circly.Policy {
	policy := circly.DefaultPolicy()
	policy.TallyReleaseBatch = cfg.TallyReleaseBatch
	policy.PollOpenLimit = cfg.PollOpenLimit
	policy.PollDailyLimit = cfg.PollDailyLimit
	policy.PollMinDuration = cfg.PollMinDuration
	policy.PollMaxDuration = cfg.PollMaxDuration
	policy.RefreshTokenTTL = cfg.RefreshTokenTTL
	policy.ReportHidePollAt = cfg.Reports.HidePollAt
	policy.ReportHideMemberAt = cfg.Reports.HideMemberAt
	return policy
}

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

type redisPinger struct{ c redis.UniversalClient }

func (r redisPinger) Ping(ctx context.Context) error { return r.c.Ping(ctx).Err() }
