package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"circly"
	"circly/push"

	"go.uber.org/zap"
)

// Pusher is the push service as the dispatch and receipt jobs use it (push.Client).
type Pusher interface {
	Send(ctx context.Context, msgs []push.Message) ([]push.Ticket, error)
	Receipts(ctx context.Context, ticketIDs []string) (map[string]push.Receipt, error)
}

var _ Pusher = (*push.Client)(nil)

// Reasons recorded on outbox rows that end without a push.
const (
	reasonCircleGone   = "circle_deleted"
	reasonNoToken      = "no_active_token"
	reasonTypeDisabled = "type_disabled"
	reasonDailyCap     = "daily_cap"
	reasonPollOver     = "poll_over"
	reasonPollHidden   = "poll_hidden"
)

// DispatchPushes sends the due pushes of the outbox. For each claimed push, in order: a circle
// that is gone, a poll hidden by reports, a user without an active token or with the type turned
// off, or a poll_start or poll_deadline push whose poll is already over ends it unsent;
// quiet hours hold it until they end (the in-app row was written at once); the daily cap drops
// it; the rest go to the push service, up to 100 per request. A refused request is retried
// later with backoff and, once PushMaxAttempts are spent, the row fails with the reason. A
// DeviceNotRegistered ticket switches the token off.
func (r *Runner) DispatchPushes(ctx context.Context) (Counts, error) {
	c := Counts{}
	claimed, err := r.app.ClaimPushes(ctx, r.set.PushClaim, r.set.PushLease)
	if err != nil || len(claimed) == 0 {
		return c, err
	}
	c["claimed"] = len(claimed)
	now := r.app.Now()
	var send []circly.PushJob
	for _, j := range claimed {
		switch {
		case j.CircleDeleted:
			err = r.settle(ctx, c, j, circly.PushSkipped, reasonCircleGone)
		case j.PollHidden:
			// Members see a hidden poll nowhere; a push would lead to it.
			err = r.settle(ctx, c, j, circly.PushSkipped, reasonPollHidden)
		case j.Token == "":
			err = r.settle(ctx, c, j, circly.PushSkipped, reasonNoToken)
		case !j.Settings.PushEnabled(j.Type):
			err = r.settle(ctx, c, j, circly.PushSkipped, reasonTypeDisabled)
		case j.PollOver && (j.Type == circly.NotifyPollStart || j.Type == circly.NotifyPollDeadline):
			// "A poll started" or "ends soon" held past the end of the poll (quiet hours, an
			// outage) would only mislead; the in-app row stays.
			err = r.settle(ctx, c, j, circly.PushSkipped, reasonPollOver)
		default:
			loc := userLocation(j.Timezone)
			if until, quiet := quietUntil(now, j.Settings, loc); quiet {
				err = r.app.HoldPush(ctx, j.NotificationID, until)
				c["held_quiet_hours"]++
				break
			}
			var fits bool
			fits, err = r.app.CountPush(ctx, j.NotificationID, j.UserID, localDay(now, loc), j.Settings.MaxNotificationsPerDay)
			if err == nil && !fits {
				err = r.settle(ctx, c, j, circly.PushDropped, reasonDailyCap)
				break
			}
			send = append(send, j)
		}
		if err != nil {
			return c, err
		}
	}
	if len(send) == 0 {
		return c, nil
	}
	// The send must end well within the lease, or another dispatcher could take these rows
	// again while this one is still sending them.
	sendCtx, cancel := context.WithTimeout(ctx, r.set.PushLease/2)
	defer cancel()
	msgs := make([]push.Message, len(send))
	for i, j := range send {
		msgs[i] = message(j)
	}
	tickets, sendErr := r.push.Send(sendCtx, msgs)
	// What the push service answered is recorded even when shutdown began meanwhile: a push
	// left "sending" would be sent again once its lease ran out.
	rec := context.WithoutCancel(ctx)
	for i, j := range send {
		var err error
		if i < len(tickets) {
			err = r.recordTicket(rec, c, j, tickets[i])
		} else {
			err = r.retryOrFail(rec, c, j, sendErr)
		}
		if err != nil {
			return c, err
		}
	}
	return c, nil
}

func (r *Runner) settle(ctx context.Context, c Counts, j circly.PushJob, status, reason string) error {
	c[status+"_"+reason]++
	return r.app.SettlePush(ctx, j.NotificationID, status, reason)
}

// message is the push of a notification: its title and text, and data the app routes with.
func message(j circly.PushJob) push.Message {
	return push.Message{
		To: j.Token, Title: j.Title, Body: j.Message, Sound: "default", Priority: push.PriorityHigh,
		Data: map[string]string{"type": j.Type, "poll_id": j.PollID, "circle_id": j.CircleID, "url": "circly://poll/" + j.PollID},
	}
}

func (r *Runner) recordTicket(ctx context.Context, c Counts, j circly.PushJob, t push.Ticket) error {
	switch {
	case t.Status == push.StatusOK:
		c["sent"]++
		return r.app.MarkPushSent(ctx, j.NotificationID, j.Token, t.ID)
	case t.Error == push.ErrorDeviceNotRegistered:
		c["device_not_registered"]++
		if _, err := r.app.DeactivatePushToken(ctx, j.UserID, j.Token); err != nil {
			return err
		}
		return r.app.FailPush(ctx, j.NotificationID, push.ErrorDeviceNotRegistered)
	case t.Error == push.ErrorMessageRateExceeded:
		return r.retryOrFail(ctx, c, j, errors.New(push.ErrorMessageRateExceeded))
	default:
		c["failed"]++
		reason := t.Error
		if reason == "" {
			reason = t.Message
		}
		return r.app.FailPush(ctx, j.NotificationID, "refused: "+reason)
	}
}

// retryOrFail puts a push whose request failed back for a later attempt, with exponential
// backoff, or fails it for good when the error is final or the attempts are spent.
func (r *Runner) retryOrFail(ctx context.Context, c Counts, j circly.PushJob, sendErr error) error {
	if sendErr == nil {
		sendErr = errors.New("the push service returned fewer tickets than messages")
	}
	reason := sendErr.Error()
	var se *push.SendError
	final := errors.As(sendErr, &se) && !se.Retryable && !errors.Is(sendErr, context.Canceled) &&
		!errors.Is(sendErr, context.DeadlineExceeded)
	attempt := j.Attempts + 1
	if final || attempt >= r.set.PushMaxAttempts {
		c["failed"]++
		r.log.Warn("push given up", zap.String("notification_id", j.NotificationID), zap.Int("attempts", attempt),
			zap.String("reason", reason))
		return r.app.FailPush(ctx, j.NotificationID, fmt.Sprintf("after %d attempts: %s", attempt, reason))
	}
	c["retry_later"]++
	wait := r.set.PushBaseBackoff << min(j.Attempts, 20)
	if wait > r.set.PushMaxBackoff || wait <= 0 {
		wait = r.set.PushMaxBackoff
	}
	if se != nil && se.RetryAfter > wait {
		wait = se.RetryAfter
	}
	return r.app.RetryPush(ctx, j.NotificationID, r.app.Now().Add(wait), reason)
}

// receiptBatch is how many receipts one run asks for (Expo's per-request limit).
const receiptBatch = push.MaxReceiptsPerRequest

// receiptHorizon is how long Expo keeps receipts; one still missing after it is recorded unknown.
const receiptHorizon = 24 * time.Hour

// CheckReceipts reads the receipts of pushes sent at least ReceiptDelay ago. A
// DeviceNotRegistered receipt switches the token off.
func (r *Runner) CheckReceipts(ctx context.Context) (Counts, error) {
	c := Counts{}
	now := r.app.Now()
	sent, err := r.app.PushesAwaitingReceipt(ctx, now.Add(-r.set.ReceiptDelay), receiptBatch)
	if err != nil || len(sent) == 0 {
		return c, err
	}
	ids := make([]string, len(sent))
	for i, s := range sent {
		ids[i] = s.TicketID
	}
	receipts, err := r.push.Receipts(ctx, ids)
	if err != nil {
		return c, err
	}
	for _, s := range sent {
		rc, ok := receipts[s.TicketID]
		switch {
		case !ok:
			// Not ready yet; after Expo's horizon it never will be.
			if s.SentAt.After(now.Add(-receiptHorizon)) {
				continue
			}
			c["unknown"]++
			err = r.app.RecordPushReceipt(ctx, s.NotificationID, "unknown", "")
		case rc.Status == push.StatusOK:
			c["ok"]++
			err = r.app.RecordPushReceipt(ctx, s.NotificationID, push.StatusOK, "")
		default:
			c["error"]++
			if rc.Error == push.ErrorDeviceNotRegistered {
				c["device_not_registered"]++
				if _, err = r.app.DeactivatePushToken(ctx, s.UserID, s.Token); err != nil {
					return c, err
				}
			}
			reason := rc.Error
			if reason == "" {
				reason = rc.Message
			}
			err = r.app.RecordPushReceipt(ctx, s.NotificationID, push.StatusError, reason)
		}
		if err != nil {
			return c, err
		}
	}
	return c, nil
}
