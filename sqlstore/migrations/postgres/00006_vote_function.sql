-- A vote in one round trip.

-- +goose Up
-- The vote's steps (idempotency record, the checked UPDATE of the poll row, the participant
-- insert) used to be four round trips: BEGIN, UPDATE, INSERT, COMMIT, each a statement for
-- PostgreSQL to parse, plan and answer, on the same two cores as everything else. One function
-- call runs them as one statement, so in one transaction. It does exactly what
-- models.Store.voteInTx does on SQLite; TestVote* run both.
--
-- Outcomes: a normal return is a counted ballot (o_replay false) or a key seen before
-- (o_replay true, nothing written). Every refusal raises, which rolls back the whole call:
--   CV000  the checked UPDATE matched nothing (the caller reads why)
--   CV001  the poll is closed
--   CV002  the member has already voted
-- Nothing here stores or returns which option a participant chose.
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

-- +goose Down
DROP FUNCTION circly_vote(uuid, uuid, uuid, varchar, integer, timestamptz, timestamptz, timestamptz);
