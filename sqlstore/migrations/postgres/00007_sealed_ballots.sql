-- Sealed ballots: anonymity that holds beneath the rows (issue 11).
--
-- Before, the vote raised the poll's exact counts in the transaction that inserted the voter's
-- poll_participants row, so every superseded poll row version (kept until vacuum, and in WAL
-- and base backups for good) carried the voter's transaction id next to a count that had grown
-- by one for the chosen option. Now:
--   * the vote inserts the participant row and drops the choice, sealed (XChaCha20-Poly1305
--     under a key PostgreSQL never sees, the poll id bound in), into `ballots`: a box row is
--     the poll and the sealed bytes, nothing else;
--   * the counts change only in a transaction that opens at least TALLY_RELEASE_BATCH waiting
--     ballots (or all of them at close), adds them to the released tally and deletes them.
--     No transaction that writes a participant row ever writes the poll's counts;
--   * the exact counts are gone: the released tally is the only tally.
-- The vote, the opening and the close each lock the poll row FOR NO KEY UPDATE (a lock only: no
-- new row version). Votes of one poll queue as before, so each counts the waiting ballots
-- exactly and the one that completes a batch knows it; an opening or a close waits for votes in
-- flight, and a vote that waited for a close sees the poll closed.

-- +goose Up
CREATE TABLE ballots (
    poll_id uuid  NOT NULL REFERENCES polls (id) ON DELETE CASCADE,
    sealed  bytea NOT NULL,
    PRIMARY KEY (poll_id, sealed)
);

-- Counted but unreleased votes cannot be sealed here (PostgreSQL has no ballot key): they are
-- released now, one partial batch per open poll, once.
UPDATE polls SET released_total = vote_total, released_counts = vote_counts,
    released_version = released_version + 1
WHERE vote_total <> released_total;
ALTER TABLE polls DROP COLUMN vote_total, DROP COLUMN vote_counts;

-- An Idempotency-Key record keeps no time finer than the hour.
ALTER TABLE vote_idempotency DROP COLUMN voted_at;
UPDATE vote_idempotency SET expires_at = date_trunc('hour', expires_at) + interval '1 hour'
WHERE expires_at <> date_trunc('hour', expires_at);

DROP FUNCTION circly_vote(uuid, uuid, uuid, varchar, integer, timestamptz, timestamptz, timestamptz);

-- The vote in one round trip (since then generated from the Go statements: sqlstore/plpgsql.go
-- installs it at `migrate up`). Outcomes: a normal return is a sealed ballot (o_replay false) or
-- a key seen before (o_replay true, nothing written). o_waiting counts the ballots waiting in
-- the box (this one included); when at least p_batch > 1 wait, o_due lists them (hex,
-- comma-separated) for the caller to open a batch (at a batch of 1 the caller opens its own).
-- Refusals raise, rolling the call back whole:
--   CV000  no such poll, membership or circle (the caller reads which)
--   CV001  the poll is closed
--   CV002  the member (or the person, through an earlier membership) has already voted
--   CV003  the membership began after the poll was created: not one of its voters
-- +goose StatementBegin
CREATE FUNCTION circly_vote(
    p_poll uuid, p_user uuid, p_sealed bytea, p_key varchar, p_batch integer,
    p_now timestamptz, p_expires timestamptz,
    OUT o_replay boolean, OUT o_released_total integer, OUT o_released_version integer,
    OUT o_released_counts text, OUT o_waiting integer, OUT o_due text)
LANGUAGE plpgsql AS $$
DECLARE
    v_member uuid;
    v_open   boolean;
    v_voter  boolean;
BEGIN
    -- Every statement here is an index lookup. The plans are cached per connection, and a plan
    -- made while poll_participants or the box looked empty (a new deployment; the box, a queue,
    -- always does) would read them whole on every vote. (Transaction-local: the call is one.)
    PERFORM set_config('enable_seqscan', 'off', true);
    o_replay := false;
    IF p_key IS NOT NULL THEN
        -- Waits for a concurrent request with the same key; a replay if that one committed.
        INSERT INTO vote_idempotency AS vi (user_id, key, poll_id, expires_at)
        VALUES (p_user, p_key, p_poll, p_expires)
        ON CONFLICT (user_id, key) DO UPDATE SET poll_id = excluded.poll_id, expires_at = excluded.expires_at
            WHERE vi.expires_at <= p_now;
        IF NOT FOUND THEN
            o_replay := true;
            RETURN;
        END IF;
    END IF;

    -- The joins check circle and membership. The option was checked by the caller (against
    -- the poll's options, which never change), so that this call never carries the choice:
    -- only the sealed ballot.
    SELECT m.id, (p.closed_at IS NULL AND p.deadline > p_now),
        (m.id = p.creator_member_id OR EXISTS (
            SELECT 1 FROM poll_options vo WHERE vo.poll_id = p.id AND vo.member_id = m.id)),
        p.released_total, p.released_version, p.released_counts::text
    INTO v_member, v_open, v_voter, o_released_total, o_released_version, o_released_counts
    FROM polls p
    JOIN circles c ON c.id = p.circle_id AND c.deleted_at IS NULL
    JOIN circle_members m ON m.circle_id = p.circle_id AND m.user_id = p_user AND m.left_at IS NULL
    WHERE p.id = p_poll
    FOR NO KEY UPDATE OF p;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'vote matched no poll row' USING ERRCODE = 'CV000';
    END IF;
    IF NOT v_open THEN
        RAISE EXCEPTION 'poll closed' USING ERRCODE = 'CV001';
    END IF;
    IF NOT v_voter THEN
        IF EXISTS (SELECT 1 FROM poll_participants WHERE poll_id = p_poll AND user_id = p_user) THEN
            RAISE EXCEPTION 'already voted' USING ERRCODE = 'CV002';
        END IF;
        RAISE EXCEPTION 'not a voter of this poll' USING ERRCODE = 'CV003';
    END IF;

    -- One ballot per membership and per person (the unique (poll_id, user_id) index).
    INSERT INTO poll_participants (poll_id, member_id, user_id) VALUES (p_poll, v_member, p_user)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'already voted' USING ERRCODE = 'CV002';
    END IF;
    INSERT INTO ballots (poll_id, sealed) VALUES (p_poll, p_sealed);

    -- Waiting ballots are the participants not yet released (a cast adds one to both, an opening
    -- moves a batch from the box to the tally): counted on poll_participants, which has no churn.
    SELECT count(*) - o_released_total INTO o_waiting FROM poll_participants WHERE poll_id = p_poll;
    IF o_waiting >= p_batch AND p_batch > 1 THEN
        SELECT string_agg(encode(b.sealed, 'hex'), ',') INTO o_due FROM ballots b WHERE b.poll_id = p_poll;
    END IF;
END
$$;
-- +goose StatementEnd

-- Opening a batch in one round trip (also generated since, like circly_vote): the caller read and opened p_sealed (hex, comma-separated)
-- and counted them into p_add (by display_order). Nothing here knows whose ballots they were. Outcomes: o_opened
-- false when the poll is closed (its close opened everything); CV004 when another opener took
-- some of these ballots first (nothing changed; read again).
-- +goose StatementBegin
CREATE FUNCTION circly_open(p_poll uuid, p_sealed text, p_add integer[],
    OUT o_opened boolean, OUT o_released_total integer, OUT o_released_version integer,
    OUT o_released_counts text)
LANGUAGE plpgsql AS $$
DECLARE
    v_sealed bytea[] := ARRAY(SELECT decode(x, 'hex') FROM unnest(string_to_array(p_sealed, ',')) AS x);
    v_n      integer;
BEGIN
    o_opened := false;
    -- The update takes the row lock (waiting for votes in flight) before the box is touched.
    UPDATE polls SET
        released_counts = (SELECT array_agg(x.c + coalesce(x.a, 0) ORDER BY x.i)
            FROM unnest(polls.released_counts, p_add) WITH ORDINALITY AS x(c, a, i)),
        released_total = polls.released_total + cardinality(v_sealed),
        released_version = polls.released_version + 1
    WHERE id = p_poll AND closed_at IS NULL
    RETURNING released_total, released_version, released_counts::text
    INTO o_released_total, o_released_version, o_released_counts;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    DELETE FROM ballots WHERE poll_id = p_poll AND sealed = ANY (v_sealed);
    GET DIAGNOSTICS v_n = ROW_COUNT;
    IF v_n <> cardinality(v_sealed) THEN
        RAISE EXCEPTION 'ballots taken by another opener' USING ERRCODE = 'CV004';
    END IF;
    o_opened := true;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- `circly migrate down` opens every waiting ballot (it has the key) before this runs; ballots
-- still here were sealed under a key it did not have, and are dropped.
DROP FUNCTION circly_open(uuid, text, integer[]);
DROP FUNCTION circly_vote(uuid, uuid, bytea, varchar, integer, timestamptz, timestamptz);
ALTER TABLE vote_idempotency ADD COLUMN voted_at timestamptz;
UPDATE vote_idempotency SET voted_at = expires_at - interval '24 hours';
ALTER TABLE vote_idempotency ALTER COLUMN voted_at SET NOT NULL;
ALTER TABLE polls ADD COLUMN vote_total integer NOT NULL DEFAULT 0,
    ADD COLUMN vote_counts integer[] NOT NULL DEFAULT '{}';
UPDATE polls SET vote_total = released_total, vote_counts = released_counts;
DROP TABLE ballots;
-- The vote function of 00006, as it was.
-- +goose StatementBegin
CREATE FUNCTION circly_vote(
    p_poll uuid, p_user uuid, p_option uuid, p_key varchar, p_batch integer,
    p_now timestamptz, p_voted_at timestamptz, p_expires timestamptz,
    OUT o_replay boolean, OUT o_vote_total integer, OUT o_released_total integer,
    OUT o_released_version integer, OUT o_released_counts text)
LANGUAGE plpgsql AS $$
DECLARE
    v_circle uuid;
    v_open   boolean;
BEGIN
    o_replay := false;
    IF p_key IS NOT NULL THEN
        -- Waits for a concurrent request with the same key; a replay if that one committed.
        INSERT INTO vote_idempotency AS vi (user_id, key, poll_id, voted_at, expires_at)
        VALUES (p_user, p_key, p_poll, p_voted_at, p_expires)
        ON CONFLICT (user_id, key) DO UPDATE SET poll_id = excluded.poll_id,
            voted_at = excluded.voted_at, expires_at = excluded.expires_at
            WHERE vi.expires_at <= p_now;
        IF NOT FOUND THEN
            o_replay := true;
            RETURN;
        END IF;
    END IF;

    -- Checks membership, option, self-vote and circle in its joins, and locks the poll row, so
    -- votes on one poll queue and a concurrent close is seen.
    UPDATE polls SET
        vote_total = polls.vote_total + 1,
        vote_counts = polls.vote_counts[:o.display_order - 1]
            || (polls.vote_counts[o.display_order] + 1) || polls.vote_counts[o.display_order + 1:],
        released_total = CASE WHEN polls.vote_total + 1 - polls.released_total >= p_batch
            THEN polls.vote_total + 1 ELSE polls.released_total END,
        released_counts = CASE WHEN polls.vote_total + 1 - polls.released_total >= p_batch
            THEN polls.vote_counts[:o.display_order - 1]
                || (polls.vote_counts[o.display_order] + 1) || polls.vote_counts[o.display_order + 1:]
            ELSE polls.released_counts END,
        released_version = CASE WHEN polls.vote_total + 1 - polls.released_total >= p_batch
            THEN polls.released_version + 1 ELSE polls.released_version END
    FROM circles c, circle_members m, poll_options o
    WHERE polls.id = p_poll AND c.id = polls.circle_id AND c.deleted_at IS NULL
        AND m.circle_id = polls.circle_id AND m.user_id = p_user AND m.left_at IS NULL
        AND o.id = p_option AND o.poll_id = polls.id AND o.member_id <> m.id
        AND NOT EXISTS (SELECT 1 FROM circle_members om WHERE om.id = o.member_id AND om.user_id = p_user)
    RETURNING polls.circle_id, polls.vote_total, polls.released_total, polls.released_version,
        polls.released_counts::text, (polls.closed_at IS NULL AND polls.deadline > p_now)
    INTO v_circle, o_vote_total, o_released_total, o_released_version, o_released_counts, v_open;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'vote matched no poll row' USING ERRCODE = 'CV000';
    END IF;
    IF NOT v_open THEN
        RAISE EXCEPTION 'poll closed' USING ERRCODE = 'CV001';
    END IF;

    -- One ballot per membership and per person (the unique (poll_id, user_id) index).
    INSERT INTO poll_participants (poll_id, member_id, user_id)
    SELECT p_poll, m.id, m.user_id FROM circle_members m
    WHERE m.circle_id = v_circle AND m.user_id = p_user AND m.left_at IS NULL
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'already voted' USING ERRCODE = 'CV002';
    END IF;
END
$$;
-- +goose StatementEnd
