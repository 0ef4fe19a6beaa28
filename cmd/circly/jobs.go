package main

import (
	"circly/app"
	"circly/config"
	"circly/jobs"
	"circly/push"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// newScheduler wires the scheduled jobs: ticks claimed in Redis when there is one (replicas),
// in memory otherwise (the embedded single replica); pushes go to EXPO_PUSH_URL.
func newScheduler(cfg config.Config, svc *app.Service, rc redis.UniversalClient, log *zap.Logger) (*jobs.Scheduler, error) {
	var lockers jobs.Lockers = jobs.NewMemoryLockers()
	if rc != nil {
		lockers = jobs.RedisLockers{Client: rc, Prefix: "circly:jobs:"}
	}
	pusher := push.New(push.Options{URL: cfg.ExpoPushURL, AccessToken: cfg.ExpoAccessToken, Log: log.Named("push")})
	runner := jobs.NewRunner(jobs.Deps{App: svc, Push: pusher, Log: log.Named("jobs")}, jobs.Defaults())
	return jobs.NewScheduler(log.Named("jobs"), lockers, runner.Jobs()...)
}
