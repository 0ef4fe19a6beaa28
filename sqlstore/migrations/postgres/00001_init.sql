-- Circly schema, PostgreSQL flavour. The SQLite flavour in ../sqlite mirrors it table for table.
--
-- Anonymity lives in the schema: poll_participants says who has voted in a poll, poll_options
-- says how many votes each option has, and nothing (no ballot row, timestamp or sequence)
-- joins the two.

-- +goose Up
CREATE TABLE users (
    id             uuid PRIMARY KEY,
    device_id      varchar(255) NOT NULL UNIQUE,
    platform       varchar(10)  NOT NULL,
    app_version    varchar(20),
    timezone       varchar(64)  NOT NULL DEFAULT 'Asia/Seoul',
    created_at     timestamptz  NOT NULL,
    last_active_at timestamptz  NOT NULL
);

CREATE TABLE push_tokens (
    user_id    uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    token      varchar(255) NOT NULL,
    active     boolean      NOT NULL DEFAULT true,
    updated_at timestamptz  NOT NULL
);

CREATE TABLE refresh_tokens (
    id         uuid PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id  uuid        NOT NULL,
    token_hash char(64)    NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    rotated_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

CREATE TABLE circles (
    id                uuid PRIMARY KEY,
    name              varchar(100) NOT NULL,
    creator_user_id   uuid REFERENCES users (id) ON DELETE SET NULL,
    max_members       integer      NOT NULL CHECK (max_members IN (10, 25, 50)),
    member_count      integer      NOT NULL DEFAULT 0 CHECK (member_count >= 0 AND member_count <= max_members),
    join_seq          bigint       NOT NULL DEFAULT 0,
    invite_code       varchar(6) UNIQUE,
    invite_link_id    uuid UNIQUE,
    invite_expires_at timestamptz,
    created_at        timestamptz  NOT NULL,
    deleted_at        timestamptz
);

CREATE TABLE circle_members (
    id        uuid PRIMARY KEY,
    circle_id uuid        NOT NULL REFERENCES circles (id) ON DELETE CASCADE,
    user_id   uuid REFERENCES users (id) ON DELETE SET NULL,
    nickname  varchar(20) NOT NULL,
    role      varchar(10) NOT NULL,
    join_seq  bigint      NOT NULL,
    joined_at timestamptz NOT NULL,
    left_at   timestamptz,
    left_reason varchar(10)
);
CREATE UNIQUE INDEX circle_members_active_user ON circle_members (circle_id, user_id) WHERE left_at IS NULL;
CREATE UNIQUE INDEX circle_members_active_nickname ON circle_members (circle_id, nickname) WHERE left_at IS NULL;
CREATE INDEX circle_members_user ON circle_members (user_id) WHERE left_at IS NULL;
CREATE INDEX circle_members_order ON circle_members (circle_id, join_seq);

CREATE TABLE question_templates (
    id            uuid PRIMARY KEY,
    category      varchar(20)  NOT NULL,
    question_text varchar(200) NOT NULL,
    usage_count   integer      NOT NULL DEFAULT 0,
    is_active     boolean      NOT NULL DEFAULT true,
    sort_order    integer      NOT NULL DEFAULT 0,
    created_at    timestamptz  NOT NULL
);
CREATE INDEX question_templates_usage ON question_templates (usage_count DESC, sort_order);

CREATE TABLE polls (
    id                uuid PRIMARY KEY,
    circle_id         uuid         NOT NULL REFERENCES circles (id) ON DELETE CASCADE,
    creator_member_id uuid         NOT NULL REFERENCES circle_members (id),
    template_id       uuid         NOT NULL REFERENCES question_templates (id),
    question_text     varchar(200) NOT NULL,
    deadline          timestamptz  NOT NULL,
    created_at        timestamptz  NOT NULL,
    closed_at         timestamptz,
    -- Counts per option, indexed by display_order (1-based). Exact counts and the released
    -- tally live on the poll row, so a vote rewrites only a row every vote touches anyway.
    vote_total        integer      NOT NULL DEFAULT 0,
    vote_counts       integer[]    NOT NULL DEFAULT '{}',
    released_total    integer      NOT NULL DEFAULT 0,
    released_counts   integer[]    NOT NULL DEFAULT '{}',
    released_version  integer      NOT NULL DEFAULT 0
);
CREATE INDEX polls_circle ON polls (circle_id, created_at);
CREATE INDEX polls_creator ON polls (creator_member_id, created_at);
CREATE INDEX polls_open_deadline ON polls (deadline) WHERE closed_at IS NULL;

CREATE TABLE poll_options (
    id              uuid PRIMARY KEY,
    poll_id         uuid        NOT NULL REFERENCES polls (id) ON DELETE CASCADE,
    member_id       uuid        NOT NULL REFERENCES circle_members (id),
    member_nickname varchar(20) NOT NULL,
    display_order   integer     NOT NULL,
    UNIQUE (poll_id, display_order)
);

-- Every poll a user created, kept when the poll is deleted: the daily poll limit counts these.
CREATE TABLE poll_creations (
    poll_id    uuid PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL
);
CREATE INDEX poll_creations_user ON poll_creations (user_id, created_at);

-- Who has voted in a poll: no option, no time, no order. One ballot per membership and per
-- person (user_id catches a member who left and rejoined; it turns NULL when the account goes).
CREATE TABLE poll_participants (
    poll_id   uuid NOT NULL REFERENCES polls (id) ON DELETE CASCADE,
    member_id uuid NOT NULL REFERENCES circle_members (id) ON DELETE CASCADE,
    user_id   uuid REFERENCES users (id) ON DELETE SET NULL,
    PRIMARY KEY (poll_id, member_id)
);
CREATE UNIQUE INDEX poll_participants_user ON poll_participants (poll_id, user_id);
CREATE INDEX poll_participants_member ON poll_participants (member_id);

-- Replays of a vote request by Idempotency-Key. Never holds the chosen option.
CREATE TABLE vote_idempotency (
    user_id    uuid         NOT NULL,
    key        varchar(255) NOT NULL,
    poll_id    uuid         NOT NULL,
    voted_at   timestamptz  NOT NULL,
    expires_at timestamptz  NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX vote_idempotency_expires ON vote_idempotency (expires_at);

-- +goose Down
DROP TABLE vote_idempotency;
DROP TABLE poll_participants;
DROP TABLE poll_creations;
DROP TABLE poll_options;
DROP TABLE polls;
DROP TABLE question_templates;
DROP TABLE circle_members;
DROP TABLE circles;
DROP TABLE refresh_tokens;
DROP TABLE push_tokens;
DROP TABLE users;
