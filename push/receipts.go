package push

import (
	"context"
	"encoding/json"

	"go.uber.org/zap"
)

// receiptsResponse is Expo's answer to …/push/getReceipts.
type receiptsResponse struct {
	Data   map[string]expoReceipt `json:"data"`
	Errors []expoError            `json:"errors"`
}

type expoReceipt struct {
	Status  string      `json:"status"`
	Message string      `json:"message"`
	Details expoDetails `json:"details"`
}

// Receipts reads the receipts of the given ticket ids, MaxReceiptsPerRequest
// per request. Ids Expo has no receipt for yet (or any more: Expo keeps them
// about a day) are absent from the map.
//
// The error, when not nil, is a *SendError for the first chunk that failed;
// the map then holds the receipts of the chunks before it.
func (c *Client) Receipts(ctx context.Context, ticketIDs []string) (map[string]Receipt, error) {
	out := make(map[string]Receipt, len(ticketIDs))
	for start := 0; start < len(ticketIDs); start += MaxReceiptsPerRequest {
		chunk := ticketIDs[start:min(start+MaxReceiptsPerRequest, len(ticketIDs))]
		if err := c.receiptsChunk(ctx, chunk, out); err != nil {
			c.log.Log(failLevel(err), "expo receipts failed", zap.Int("ids", len(chunk)), zap.Int("read_before", len(out)), zap.Error(err))
			return out, err
		}
	}
	return out, nil
}

func (c *Client) receiptsChunk(ctx context.Context, ids []string, out map[string]Receipt) error {
	body, err := c.post(ctx, call{what: "receipts", url: c.receiptsURL, payload: map[string][]string{"ids": ids}})
	if err != nil {
		return err
	}
	var res receiptsResponse
	if err := json.Unmarshal(body, &res); err != nil {
		return &SendError{Reason: "receipts answer is not Expo's JSON: " + err.Error(), Status: 200, err: err}
	}
	if len(res.Errors) > 0 {
		return &SendError{Reason: "Expo refused the receipts request: " + describe(res.Errors), Status: 200}
	}
	var failed int
	for id, r := range res.Data {
		out[id] = Receipt{Status: r.Status, Message: scrub(r.Message), Error: r.Details.Error}
		if r.Status != StatusOK {
			failed++
		}
	}
	c.log.Debug("expo receipts", zap.Int("ids", len(ids)), zap.Int("found", len(res.Data)), zap.Int("failed", failed))
	return nil
}
