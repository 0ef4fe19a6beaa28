package monitor

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Alert is one change of a replica's state.
type Alert struct {
	Kind   Kind
	URL    string
	Detail string        // why it is down or degraded
	After  time.Duration // recovered: how long it was down or degraded
	At     time.Time
}

// Text is the alert as one line, the webhook's text and the e-mail's body.
func (a Alert) Text() string {
	switch a.Kind {
	case KindRecovered:
		return fmt.Sprintf("RECOVERED: %s is healthy again after %s", a.URL, a.After.Round(time.Second))
	case KindDegraded:
		return fmt.Sprintf("DEGRADED: %s answers but a dependency fails (%s)", a.URL, a.Detail)
	default:
		return fmt.Sprintf("DOWN: %s (%s)", a.URL, a.Detail)
	}
}

// Subject is the e-mail's subject.
func (a Alert) Subject() string {
	return fmt.Sprintf("[circly monitor] %s %s", a.URL, a.Kind)
}

// Notifier delivers an alert one way (webhook, e-mail). Send makes one attempt.
type Notifier interface {
	Name() string
	Send(ctx context.Context, a Alert) error
}

// permanent marks a failure that another attempt cannot fix (a 4xx, a refused address).
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// Retry is how often and how patiently a notifier is tried.
type Retry struct {
	Attempts int           // at least 1
	Backoff  time.Duration // before the second attempt; doubled for each further one
}

// deliver sends a through n, retrying transient failures; it returns the last error.
func (r Retry) deliver(ctx context.Context, n Notifier, a Alert) (attempts int, err error) {
	wait := r.Backoff
	for attempts = 1; ; attempts++ {
		err = n.Send(ctx, a)
		var p permanent
		if err == nil || errors.As(err, &p) || attempts >= r.Attempts {
			return attempts, err
		}
		select {
		case <-ctx.Done():
			return attempts, err
		case <-time.After(wait):
		}
		wait *= 2
	}
}
