
-- Generated (plpgsql.go) from the cast's statements in cast.go: change those, not this;
-- `circly migrate up` installs what the binary generates.
DECLARE
    v_member uuid;
    v_open   boolean;
    v_voter  boolean;
    v_voted  boolean;
BEGIN
    -- Every statement here is an index lookup. The plans are cached per connection, and a plan
    -- made while poll_participants or the box looked empty (a new deployment; the box, a queue,
    -- always does) would read them whole on every vote. (Transaction-local: the call is one.)
    PERFORM set_config('enable_seqscan', 'off', true);
    o_replay := false;
    IF p_key IS NOT NULL THEN
        {{.ClaimKey}};
        IF NOT FOUND THEN
            o_replay := true;
            RETURN;
        END IF;
    END IF;

    -- The lock is NO KEY UPDATE: no new row version. Votes of one poll queue on it, so each
    -- counts the waiting ballots exactly, and a vote that waited for a close sees it closed.
    {{.Check}}
        FOR NO KEY UPDATE OF p
        INTO v_member, v_open, v_voter, o_released_total, o_released_version, o_released_counts;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'vote matched no poll row' USING ERRCODE = 'CV000';
    END IF;
    IF NOT v_open THEN
        RAISE EXCEPTION 'poll closed' USING ERRCODE = 'CV001';
    END IF;
    IF NOT v_voter THEN
        {{.VotedBefore}} INTO v_voted;
        IF v_voted THEN
            RAISE EXCEPTION 'already voted' USING ERRCODE = 'CV002';
        END IF;
        RAISE EXCEPTION 'not a voter of this poll' USING ERRCODE = 'CV003';
    END IF;

    {{.Participate}};
    IF NOT FOUND THEN
        RAISE EXCEPTION 'already voted' USING ERRCODE = 'CV002';
    END IF;
    {{.DropBallot}};

    {{.Waiting}} INTO o_waiting;
    IF o_waiting >= p_batch AND p_batch > 1 THEN
        SELECT string_agg(encode(d.sealed, 'hex'), ',') INTO o_due FROM ({{.Due}}) d;
    END IF;
END
