-- Review: operator tokens, decisions on reports, the sanctions ladder and the audit log
-- (SQLite flavour of ../postgres).

-- +goose Up
-- Operator tokens `circly admin token` issued: the admin API accepts one only while its row is
-- here, unexpired and not revoked (`circly admin revoke <id>`).
CREATE TABLE operator_tokens (
    id         text PRIMARY KEY,
    operator   varchar(64) NOT NULL,
    issued_at  datetime NOT NULL,
    expires_at datetime NOT NULL,
    revoked_at datetime
);

-- Every operator action: who, what, on which target, why, when. Append-only: the triggers
-- below refuse UPDATE and DELETE.
CREATE TABLE audit_log (
    id          text PRIMARY KEY,
    operator    varchar(64)  NOT NULL,
    action      varchar(30)  NOT NULL,
    target_type varchar(10),
    target_id   varchar(64),
    reason      varchar(500) NOT NULL CHECK (reason <> ''),
    details     text         NOT NULL DEFAULT '{}',
    created_at  datetime     NOT NULL
);
CREATE INDEX audit_log_created ON audit_log (created_at, id);
-- +goose StatementBegin
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
-- +goose StatementEnd

-- A decided report names the operator and the audit row of the decision.
ALTER TABLE reports ADD COLUMN decided_by varchar(64);
ALTER TABLE reports ADD COLUMN decision_id text;

-- One rung of the ladder an account climbed (per user, not per membership): no poll creation
-- and no joining until ends_at. The rung count is the account's number of rows.
CREATE TABLE sanctions (
    id          text PRIMARY KEY,
    user_id     text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    rung        integer     NOT NULL CHECK (rung > 0),
    ends_at     datetime    NOT NULL,
    reason      varchar(20) NOT NULL,
    decision_id text        NOT NULL,
    created_at  datetime    NOT NULL
);
CREATE INDEX sanctions_user ON sanctions (user_id, ends_at);

-- A moderation notification is about an account, not a poll: poll_id turns nullable. SQLite
-- cannot drop a NOT NULL, so the table is rebuilt, and push_outbox (which references it) with
-- it: dropping notifications first would cascade into the outbox.
CREATE TABLE notifications_new (
    id         text PRIMARY KEY,
    user_id    text         NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    type       varchar(20)  NOT NULL,
    dedupe_key varchar(40)  NOT NULL,
    title      varchar(200) NOT NULL,
    message    varchar(500) NOT NULL,
    poll_id    text         REFERENCES polls (id) ON DELETE CASCADE,
    circle_id  text         NOT NULL REFERENCES circles (id) ON DELETE CASCADE,
    is_read    boolean      NOT NULL DEFAULT false,
    read_at    datetime,
    created_at datetime  NOT NULL
);
INSERT INTO notifications_new (id, user_id, type, dedupe_key, title, message, poll_id, circle_id, is_read, read_at, created_at)
    SELECT id, user_id, type, dedupe_key, title, message, poll_id, circle_id, is_read, read_at, created_at FROM notifications;
CREATE TABLE push_outbox_new (
    notification_id   text PRIMARY KEY REFERENCES notifications_new (id) ON DELETE CASCADE,
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
INSERT INTO push_outbox_new SELECT notification_id, user_id, status, attempts, next_attempt_at, claimed_until, counted_day,
    token, ticket_id, last_error, sent_at, receipt_status, receipt_checked_at, created_at FROM push_outbox;
DROP TABLE push_outbox;
DROP TABLE notifications;
ALTER TABLE notifications_new RENAME TO notifications;
ALTER TABLE push_outbox_new RENAME TO push_outbox;
CREATE UNIQUE INDEX notifications_once ON notifications (user_id, poll_id, dedupe_key);
CREATE INDEX notifications_user ON notifications (user_id, created_at);
CREATE INDEX notifications_unread ON notifications (user_id) WHERE is_read = false;
CREATE INDEX notifications_read_created ON notifications (created_at) WHERE is_read = true;
CREATE INDEX push_outbox_due ON push_outbox (next_attempt_at) WHERE status IN ('pending', 'sending');
CREATE INDEX push_outbox_receipts ON push_outbox (sent_at) WHERE status = 'sent' AND receipt_checked_at IS NULL;
CREATE INDEX push_outbox_user ON push_outbox (user_id, status);

-- +goose Down
-- poll_id NOT NULL again: the same rebuild the other way, without the moderation notifications.
CREATE TABLE notifications_old (
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
INSERT INTO notifications_old (id, user_id, type, dedupe_key, title, message, poll_id, circle_id, is_read, read_at, created_at)
    SELECT id, user_id, type, dedupe_key, title, message, poll_id, circle_id, is_read, read_at, created_at FROM notifications
    WHERE poll_id IS NOT NULL;
CREATE TABLE push_outbox_old (
    notification_id   text PRIMARY KEY REFERENCES notifications_old (id) ON DELETE CASCADE,
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
INSERT INTO push_outbox_old SELECT o.notification_id, o.user_id, o.status, o.attempts, o.next_attempt_at, o.claimed_until,
    o.counted_day, o.token, o.ticket_id, o.last_error, o.sent_at, o.receipt_status, o.receipt_checked_at, o.created_at
    FROM push_outbox o JOIN notifications_old n ON n.id = o.notification_id;
DROP TABLE push_outbox;
DROP TABLE notifications;
ALTER TABLE notifications_old RENAME TO notifications;
ALTER TABLE push_outbox_old RENAME TO push_outbox;
CREATE UNIQUE INDEX notifications_once ON notifications (user_id, poll_id, dedupe_key);
CREATE INDEX notifications_user ON notifications (user_id, created_at);
CREATE INDEX notifications_unread ON notifications (user_id) WHERE is_read = false;
CREATE INDEX notifications_read_created ON notifications (created_at) WHERE is_read = true;
CREATE INDEX push_outbox_due ON push_outbox (next_attempt_at) WHERE status IN ('pending', 'sending');
CREATE INDEX push_outbox_receipts ON push_outbox (sent_at) WHERE status = 'sent' AND receipt_checked_at IS NULL;
CREATE INDEX push_outbox_user ON push_outbox (user_id, status);
DROP TABLE sanctions;
ALTER TABLE reports DROP COLUMN decision_id;
ALTER TABLE reports DROP COLUMN decided_by;
DROP TABLE audit_log;
DROP TABLE operator_tokens;
