-- Notifications, their push outbox, reminder records and per-user notification settings.
-- SQLite flavour; it mirrors ../postgres table for table.

-- +goose Up
-- One in-app notification. dedupe_key names the event ("poll_start", "poll_deadline:60",
-- "poll_result", "picked", ...): the unique index makes "each notification once" a database
-- rule, whatever replica or retry writes it.
CREATE TABLE notifications (
    id         text PRIMARY KEY,
    user_id    text         NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    type       varchar(20)  NOT NULL,
    dedupe_key varchar(40)  NOT NULL,
    title      varchar(200) NOT NULL,
    message    varchar(500) NOT NULL,
    poll_id    text         NOT NULL REFERENCES polls (id) ON DELETE CASCADE,
    circle_id  text         NOT NULL REFERENCES circles (id) ON DELETE CASCADE,
    is_read    boolean      NOT NULL DEFAULT false,
    read_at    datetime,
    created_at datetime  NOT NULL
);
CREATE UNIQUE INDEX notifications_once ON notifications (user_id, poll_id, dedupe_key);
CREATE INDEX notifications_user ON notifications (user_id, created_at);
CREATE INDEX notifications_unread ON notifications (user_id) WHERE is_read = false;
CREATE INDEX notifications_read_created ON notifications (created_at) WHERE is_read = true;

-- The push that goes with a notification, written in the same transaction. status: pending
-- (due at next_attempt_at), sending (claimed by a dispatcher until claimed_until), sent,
-- failed (reason in last_error), dropped (daily cap) or skipped (type off, no token, circle gone).
CREATE TABLE push_outbox (
    notification_id   text PRIMARY KEY REFERENCES notifications (id) ON DELETE CASCADE,
    user_id           text         NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status            varchar(10)  NOT NULL,
    attempts          integer      NOT NULL DEFAULT 0,
    next_attempt_at   datetime  NOT NULL,
    claimed_until     datetime,
    counted_day       varchar(10),
    token             varchar(255),
    ticket_id         varchar(100),
    last_error        varchar(200),
    sent_at           datetime,
    receipt_status    varchar(10),
    receipt_checked_at datetime,
    created_at        datetime  NOT NULL
);
CREATE INDEX push_outbox_due ON push_outbox (next_attempt_at) WHERE status IN ('pending', 'sending');
CREATE INDEX push_outbox_receipts ON push_outbox (sent_at) WHERE status = 'sent' AND receipt_checked_at IS NULL;
CREATE INDEX push_outbox_user ON push_outbox (user_id, status);

-- Pushes handed to the push service per user and local day: the daily cap, exact under
-- concurrency (a conditional upsert).
CREATE TABLE push_day_counts (
    user_id text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    day     varchar(10) NOT NULL,
    count   integer     NOT NULL,
    PRIMARY KEY (user_id, day)
);

-- A deadline reminder that went out (or was decided): each at most once per poll.
CREATE TABLE poll_reminders (
    poll_id    text        NOT NULL REFERENCES polls (id) ON DELETE CASCADE,
    minutes    integer     NOT NULL,
    created_at datetime NOT NULL,
    PRIMARY KEY (poll_id, minutes)
);

-- Notification settings; a user without a row has the defaults.
CREATE TABLE notification_settings (
    user_id                   text PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    poll_start_enabled        boolean     NOT NULL DEFAULT true,
    poll_deadline_enabled     boolean     NOT NULL DEFAULT true,
    poll_result_enabled       boolean     NOT NULL DEFAULT true,
    quiet_hours_enabled       boolean     NOT NULL DEFAULT false,
    quiet_start_hour          integer     NOT NULL DEFAULT 22 CHECK (quiet_start_hour BETWEEN 0 AND 23),
    quiet_end_hour            integer     NOT NULL DEFAULT 8 CHECK (quiet_end_hour BETWEEN 0 AND 23),
    max_notifications_per_day integer     NOT NULL DEFAULT 20 CHECK (max_notifications_per_day >= 0),
    updated_at                datetime NOT NULL
);

-- +goose Down
DROP TABLE notification_settings;
DROP TABLE poll_reminders;
DROP TABLE push_day_counts;
DROP TABLE push_outbox;
DROP TABLE notifications;
