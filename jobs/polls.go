package jobs

import (
	"context"
	"time"

	"circly"
	"circly/metrics"
)

// closeBatch is how many due polls one query returns; a run keeps going while polls are due.
const closeBatch = 100

// ClosePolls closes every poll past its deadline: final tally, notifications, announcements
// (app.ClosePoll). A poll another replica or a read closed first is counted as already_closed.
func (r *Runner) ClosePolls(ctx context.Context) (Counts, error) {
	c := Counts{}
	for ctx.Err() == nil {
		ids, err := r.app.DuePolls(ctx, closeBatch)
		if err != nil {
			return c, err
		}
		progress := false
		for _, id := range ids {
			closed, notes, err := r.app.ClosePoll(ctx, id)
			if err != nil {
				return c, err
			}
			if closed {
				c["closed"]++
				c["notifications"] += notes
				progress = true
			} else {
				c["already_closed"]++
			}
		}
		if len(ids) < closeBatch || !progress {
			break
		}
	}
	return c, ctx.Err()
}

// OpenBallots opens the ballot boxes where a batch waits unopened: the vote that completed it
// failed to open it (its replica died between the two steps, or the database went away), and
// no later vote has come to open it.
func (r *Runner) OpenBallots(ctx context.Context) (Counts, error) {
	c := Counts{}
	ids, err := r.app.DueBoxes(ctx, closeBatch)
	if err != nil {
		return c, err
	}
	for _, id := range ids {
		released, err := r.app.OpenBallots(ctx, id)
		if err != nil {
			return c, err
		}
		if released {
			c["opened"]++
		}
	}
	return c, nil
}

// reminderBatch bounds the polls one reminder query returns.
const reminderBatch = 200

// Reminders sends the deadline reminders that are due (1 h and 10 min before), each at most once
// per poll, to the members who have not voted.
func (r *Runner) Reminders(ctx context.Context) (Counts, error) {
	c := Counts{}
	// Soonest reminder first: when both are due (the job was down), the later one is sent and
	// the earlier one is recorded as passed.
	for i := len(circly.DeadlineReminders) - 1; i >= 0; i-- {
		minutes := circly.DeadlineReminders[i]
		ids, err := r.app.DueReminders(ctx, minutes, reminderBatch)
		if err != nil {
			return c, err
		}
		for _, id := range ids {
			n, err := r.app.SendReminder(ctx, id, minutes)
			if err != nil {
				return c, err
			}
			c["decided"]++
			c["notifications"] += n
		}
	}
	return c, nil
}

// Gauges refreshes active_polls_total, active_users_24h and
// circly_backup_last_success_timestamp_seconds. Every replica runs it for its own
// /metrics (the values are global, so any replica's answer is right).
func (r *Runner) Gauges(ctx context.Context) (Counts, error) {
	polls, err := r.app.CountOpenPolls(ctx)
	if err != nil {
		return nil, err
	}
	users, err := r.app.CountActiveUsers(ctx, r.app.Now().Add(-24*time.Hour))
	if err != nil {
		return nil, err
	}
	metrics.ActivePolls.Set(float64(polls))
	metrics.ActiveUsers24h.Set(float64(users))
	// The off-site backup runs elsewhere (a CronJob) and records its good runs in the database.
	if last, ok, err := r.app.LastBackup(ctx); err != nil {
		return nil, err
	} else if ok {
		metrics.BackupLastSuccess.Set(float64(last.FinishedAt.Unix()))
	}
	return Counts{}, nil
}

// cleanupBatch bounds one delete statement; a run repeats it while it deletes full batches.
const cleanupBatch = 1000

// Cleanup removes refresh tokens expired more than ExpiredGrace ago, expired Idempotency-Key
// records, read notifications older
// than ReadNotificationTTL and old daily push counters, and frees invite codes that expired more
// than ExpiredGrace ago.
func (r *Runner) Cleanup(ctx context.Context) (Counts, error) {
	c := Counts{}
	now := r.app.Now()
	batched := func(key string, del func() (int64, error)) error {
		for ctx.Err() == nil {
			n, err := del()
			if err != nil {
				return err
			}
			c[key] += int(n)
			if n < cleanupBatch {
				return nil
			}
		}
		return ctx.Err()
	}
	if err := batched("refresh_tokens", func() (int64, error) {
		return r.app.DeleteExpiredRefreshTokens(ctx, now.Add(-r.set.ExpiredGrace), cleanupBatch)
	}); err != nil {
		return c, err
	}
	if err := batched("read_notifications", func() (int64, error) {
		return r.app.DeleteReadNotifications(ctx, now.Add(-r.set.ReadNotificationTTL), cleanupBatch)
	}); err != nil {
		return c, err
	}
	n, err := r.app.DeleteExpiredIdempotencyKeys(ctx)
	if err != nil {
		return c, err
	}
	c["idempotency_keys"] = int(n)
	if n, err = r.app.FreeExpiredInviteCodes(ctx, now.Add(-r.set.ExpiredGrace)); err != nil {
		return c, err
	}
	c["invite_codes_freed"] = int(n)
	// Daily counters: the earliest local day on Earth is about a day behind UTC.
	if n, err = r.app.DeletePushDayCounts(ctx, now.Add(-48*time.Hour).Format(time.DateOnly)); err != nil {
		return c, err
	}
	c["push_day_counts"] = int(n)
	return c, nil
}

// FoldTemplateUses moves the uses poll creation recorded into the templates' usage_count (reads
// count both, so this only keeps the uses table short).
func (r *Runner) FoldTemplateUses(ctx context.Context) (Counts, error) {
	n, err := r.app.FoldTemplateUses(ctx)
	return Counts{"uses": int(n)}, err
}
