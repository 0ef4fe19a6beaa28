package main

import (
	"context"

	"circly/config"
	"circly/models"
	"circly/realtime"

	"go.uber.org/zap"
)

// newBroker returns the in-memory broker: one process, so no Redis is needed.
func newBroker(_ config.Config, _ *zap.Logger) (realtime.Broker, error) {
	return realtime.NewMemoryBroker(), nil
}

// unreadCount gives the user: channel snapshot its unread_count. nil (reported as 0) until
// the notifications store lands.
func unreadCount(_ *models.Store) func(ctx context.Context, userID string) (int, error) {
	return nil
}
