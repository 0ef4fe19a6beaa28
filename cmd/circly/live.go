package main

import (
	"context"
	"fmt"

	"circly/app"
	"circly/config"
	"circly/hub"
	"circly/metrics"
	"circly/models"
	"circly/realtime"

	"go.uber.org/zap"
)

// startLive builds the realtime broker (in memory in embedded mode) and this replica's hub,
// and connects them. The caller closes the hub (after its drain) and then the broker.
func startLive(ctx context.Context, cfg config.Config, store *models.Store, log *zap.Logger) (realtime.Broker, *hub.Hub, error) {
	broker, err := newBroker(cfg, log)
	if err != nil {
		return nil, nil, err
	}
	access := &app.LiveAccess{Store: store, UnreadCount: unreadCount(store)}
	h := hub.New(hub.Config{Broker: broker, Auth: access, Snapshots: access, Log: log.Named("hub"), Metrics: metrics.NewWS()})
	if err := h.Start(ctx); err != nil {
		_ = broker.Close()
		return nil, nil, fmt.Errorf("realtime broker: %w", err)
	}
	return broker, h, nil
}
