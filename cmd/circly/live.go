package main

import (
	"context"
	"fmt"

	"circly/app"
	"circly/config"
	"circly/hub"
	"circly/metrics"
	"circly/realtime"
	"circly/resultscache"
	"circly/revoked"
	"circly/sqlstore"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// startLive builds the realtime broker (in memory in embedded mode), the app that publishes
// through it and this replica's hub, which asks the app who may watch what. The caller closes
// the hub (after its drain) and then the broker.
func startLive(ctx context.Context, cfg config.Config, store *sqlstore.Store, rc redis.UniversalClient, gone *revoked.Accounts, log *zap.Logger) (realtime.Broker, *app.Service, *hub.Hub, error) {
	var broker realtime.Broker = realtime.NewMemoryBroker()
	if rc != nil {
		broker = newRedisBroker(rc, log)
	}
	appSvc := app.New(store, broker, log.Named("app"))
	appSvc.Ladder = ladderOf(cfg)
	if rc != nil && cfg.ResultsCache {
		appSvc.ResultsCache = resultscache.NewRedis(rc, "circly:")
	}
	access := &app.LiveAccess{App: appSvc}
	h := hub.New(hub.Config{Broker: broker, Auth: access, Snapshots: access, Log: log.Named("hub"), Metrics: metrics.NewWS(),
		Limits: hub.Limits{MaxConnsPerUser: cfg.WSMaxConnsPerUser}, Revoked: gone})
	if err := h.Start(ctx); err != nil {
		_ = broker.Close()
		return nil, nil, nil, fmt.Errorf("realtime broker: %w", err)
	}
	return broker, appSvc, h, nil
}
