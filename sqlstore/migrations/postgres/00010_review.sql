-- Review: operator tokens, decisions on reports, the sanctions ladder and the audit log.

-- +goose Up
-- Operator tokens `circly admin token` issued: the admin API accepts one only while its row is
-- here, unexpired and not revoked (`circly admin revoke <id>`).
CREATE TABLE operator_tokens (
    id         uuid PRIMARY KEY,
    operator   varchar(64) NOT NULL,
    issued_at  timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);

-- Every operator action: who, what, on which target, why, when. Append-only: the triggers
-- below refuse UPDATE, DELETE and TRUNCATE, so not even the service can rewrite history.
CREATE TABLE audit_log (
    id          uuid PRIMARY KEY,
    operator    varchar(64)  NOT NULL,
    action      varchar(30)  NOT NULL,
    target_type varchar(10),
    target_id   varchar(64),
    reason      varchar(500) NOT NULL CHECK (reason <> ''),
    details     text         NOT NULL DEFAULT '{}',
    created_at  timestamptz  NOT NULL
);
CREATE INDEX audit_log_created ON audit_log (created_at, id);
-- +goose StatementBegin
CREATE FUNCTION circly_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION circly_audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION circly_audit_log_append_only();

-- A decided report names the operator and the audit row of the decision.
ALTER TABLE reports ADD COLUMN decided_by varchar(64);
ALTER TABLE reports ADD COLUMN decision_id uuid;

-- One rung of the ladder an account climbed (per user, not per membership): no poll creation
-- and no joining until ends_at. The rung count is the account's number of rows. Removal is the
-- last rung: the account goes with its rows, and the audit log keeps the decision.
CREATE TABLE sanctions (
    id          uuid PRIMARY KEY,
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    rung        integer     NOT NULL CHECK (rung > 0),
    ends_at     timestamptz NOT NULL,
    reason      varchar(20) NOT NULL,
    decision_id uuid        NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX sanctions_user ON sanctions (user_id, ends_at);

-- A moderation notification is about an account, not a poll.
ALTER TABLE notifications ALTER COLUMN poll_id DROP NOT NULL;

-- +goose Down
DELETE FROM notifications WHERE poll_id IS NULL;
ALTER TABLE notifications ALTER COLUMN poll_id SET NOT NULL;
DROP TABLE sanctions;
ALTER TABLE reports DROP COLUMN decision_id;
ALTER TABLE reports DROP COLUMN decided_by;
DROP TABLE audit_log;
DROP FUNCTION circly_audit_log_append_only();
DROP TABLE operator_tokens;
