-- Reports, uploads and the indexes the stats endpoints read through.

-- +goose Up
-- A report names its target by the id the reporter saw: a poll, a circle, or for a user the
-- membership id (user ids of others are never shown, so a report never holds one either).
-- The reporter turns NULL when their account is deleted; the report stays for moderation.
CREATE TABLE reports (
    id               uuid PRIMARY KEY,
    reporter_user_id uuid REFERENCES users (id) ON DELETE SET NULL,
    target_type      varchar(10)   NOT NULL CHECK (target_type IN ('poll', 'circle', 'user')),
    target_id        uuid          NOT NULL,
    reason           varchar(20)   NOT NULL CHECK (reason IN ('bullying', 'inappropriate', 'spam', 'other')),
    description      varchar(1000),
    status           varchar(10)   NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'reviewed', 'dismissed')),
    created_at       timestamptz   NOT NULL,
    resolved_at      timestamptz
);
-- One pending report per reporter and target: the database settles concurrent duplicates.
CREATE UNIQUE INDEX reports_pending_once ON reports (reporter_user_id, target_type, target_id) WHERE status = 'pending';
CREATE INDEX reports_reporter ON reports (reporter_user_id, created_at);
CREATE INDEX reports_pending ON reports (created_at) WHERE status = 'pending';

-- Images stored by the storage backend under the id; this row is their metadata.
CREATE TABLE uploads (
    id           uuid PRIMARY KEY,
    user_id      uuid REFERENCES users (id) ON DELETE SET NULL,
    type         varchar(20) NOT NULL CHECK (type IN ('result_card', 'profile_image')),
    content_type varchar(50) NOT NULL,
    size         bigint      NOT NULL CHECK (size > 0),
    created_at   timestamptz NOT NULL
);
CREATE INDEX uploads_user ON uploads (user_id, created_at);

-- Stats count a user's ballots (GET /v1/stats/user): who-voted rows by person. It holds no
-- more than the table already does (no option, no time).
CREATE INDEX poll_participants_by_user ON poll_participants (user_id);

-- +goose Down
DROP INDEX poll_participants_by_user;
DROP TABLE uploads;
DROP TABLE reports;
