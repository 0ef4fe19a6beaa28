package monitor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// Webhook posts {"text": …} to a Slack-compatible incoming webhook (Slack, Mattermost,
// Rocket.Chat, Discord's /slack endpoint).
type Webhook struct {
	URL    string
	Client *http.Client // with a timeout
}

var _ Notifier = Webhook{}

func (w Webhook) Name() string { return "webhook" }

func (w Webhook) Send(ctx context.Context, a Alert) error {
	body, err := json.Marshal(map[string]string{"text": a.Text()})
	if err != nil {
		return permanent{err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return permanent{err}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.Client.Do(req)
	if err != nil {
		// The URL holds the webhook's token: say what failed, not where.
		return fmt.Errorf("post: %s", shortError(err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("webhook answered %d", resp.StatusCode)
	default:
		return permanent{fmt.Errorf("webhook answered %d", resp.StatusCode)}
	}
}
