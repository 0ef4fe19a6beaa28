package push

import (
	"context"
	"encoding/json"
	"fmt"

	"go.uber.org/zap"

	"circly/metrics"
)

// sendResponse is Expo's answer to …/push/send.
type sendResponse struct {
	Data   []expoTicket `json:"data"`
	Errors []expoError  `json:"errors"`
}

type expoTicket struct {
	Status  string      `json:"status"`
	ID      string      `json:"id"`
	Message string      `json:"message"`
	Details expoDetails `json:"details"`
}

// Send hands msgs to Expo, MaxMessagesPerRequest per request, one batch after
// the other, and returns one ticket per message in the same order. A refused
// message (an unregistered token, a payload too big) is an error ticket, not
// an error.
//
// The error, when not nil, is a *SendError for the first batch that failed;
// the tickets returned then cover the batches before it, so messages
// [len(tickets):] were not accepted by Expo and can be sent again later.
func (c *Client) Send(ctx context.Context, msgs []Message) ([]Ticket, error) {
	for i, m := range msgs {
		if m.To == "" {
			return nil, &SendError{Reason: fmt.Sprintf("message %d has no recipient", i)}
		}
	}
	tickets := make([]Ticket, 0, len(msgs))
	for start := 0; start < len(msgs); start += MaxMessagesPerRequest {
		batch := msgs[start:min(start+MaxMessagesPerRequest, len(msgs))]
		got, err := c.sendBatch(ctx, batch)
		if err != nil {
			metrics.PushSent.WithLabelValues("error").Add(float64(len(batch)))
			c.log.Log(failLevel(err), "expo send failed", zap.Int("messages", len(batch)),
				zap.Int("accepted_before", len(tickets)), zap.Int("not_sent", len(msgs)-len(tickets)), zap.Error(err))
			return tickets, err
		}
		tickets = append(tickets, got...)
	}
	return tickets, nil
}

// sendBatch sends at most MaxMessagesPerRequest messages in one request.
func (c *Client) sendBatch(ctx context.Context, batch []Message) ([]Ticket, error) {
	body, err := c.post(ctx, call{what: "send", url: c.sendURL, payload: batch, messages: len(batch)})
	if err != nil {
		return nil, err
	}
	var res sendResponse
	if err := json.Unmarshal(body, &res); err != nil {
		return nil, &SendError{Reason: "send answer is not Expo's JSON: " + err.Error(), Status: 200, err: err}
	}
	if len(res.Errors) > 0 {
		return nil, &SendError{Reason: "Expo refused the send request: " + describe(res.Errors), Status: 200}
	}
	if len(res.Data) != len(batch) {
		// Which ticket belongs to which message is unknowable now; Expo may
		// still have queued some of them.
		return nil, &SendError{Reason: fmt.Sprintf("Expo answered %d tickets for %d messages", len(res.Data), len(batch)), Status: 200}
	}
	tickets := make([]Ticket, len(batch))
	var ok, refused int
	for i, t := range res.Data {
		tickets[i] = Ticket{ID: t.ID, Status: t.Status, Message: scrub(t.Message), Error: t.Details.Error}
		if t.Status == StatusOK {
			ok++
			continue
		}
		refused++
		level := zap.WarnLevel
		if t.Details.Error == ErrorDeviceNotRegistered {
			level = zap.InfoLevel // routine: the app was uninstalled
		}
		c.log.Log(level, "expo refused a push", zap.String("token", MaskToken(batch[i].To)),
			zap.String("status", t.Status), zap.String("error", t.Details.Error), zap.String("message", tickets[i].Message))
	}
	metrics.PushSent.WithLabelValues("ok").Add(float64(ok))
	if refused > 0 {
		metrics.PushSent.WithLabelValues("error").Add(float64(refused))
	}
	c.log.Debug("expo send", zap.Int("messages", len(batch)), zap.Int("ok", ok), zap.Int("refused", refused))
	return tickets, nil
}
