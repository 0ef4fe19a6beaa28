package main

import (
	"context"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"

	"circly/config"
	"circly/monitor"
)

// runMonitor is `circly monitor`: it reads only the monitor's settings (it runs beside the
// replicas, without their database, Redis or secrets) and watches until SIGTERM/SIGINT.
func runMonitor() error {
	cfg, err := config.LoadMonitor()
	if err != nil {
		return err
	}
	log, err := newLogger(config.Config{LogLevel: cfg.LogLevel, LogFormat: cfg.LogFormat})
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	log.Info("circly monitor", zap.String("version", version), zap.Any("config", cfg.Masked()))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := &monitor.Monitor{
		URLs: cfg.URLs, Interval: cfg.Interval, Timeout: cfg.Timeout, StableChecks: cfg.StableChecks,
		Notifiers: alertNotifiers(cfg),
		// Three attempts, 2s then 4s apart: a brief hiccup is ridden out; a dead webhook delays
		// its replica's next check by at most 36s, a dead SMTP server by 66s.
		Retry: monitor.Retry{Attempts: 3, Backoff: 2 * time.Second},
		Log:   log,
	}
	m.Run(ctx)
	return nil
}

func alertNotifiers(cfg config.Monitor) []monitor.Notifier {
	var out []monitor.Notifier
	if cfg.WebhookURL != "" {
		out = append(out, monitor.Webhook{URL: cfg.WebhookURL, Client: &http.Client{Timeout: 10 * time.Second}})
	}
	if s := cfg.SMTP; s.Addr != "" {
		out = append(out, monitor.Email{Addr: s.Addr, Username: s.Username, Password: s.Password,
			From: s.From, To: s.To, Timeout: 20 * time.Second})
	}
	return out
}
