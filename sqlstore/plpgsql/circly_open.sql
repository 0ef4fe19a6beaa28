
-- Generated (plpgsql.go) from the opening's statements in box.go: change those, not this;
-- `circly migrate up` installs what the binary generates.
DECLARE
    v_sealed bytea[] := ARRAY(SELECT decode(x, 'hex') FROM unnest(string_to_array(p_sealed, ',')) AS x);
    v_n      integer;
BEGIN
    o_opened := false;
    -- One batch, one version: the caller opened the batch and counted it (p_add, by display
    -- order). The update takes the row lock, waiting for votes in flight, before the box is
    -- touched; no row: the poll is closed, and its close opened everything.
    {{.Release}}
        RETURNING released_total, released_version, released_counts
        INTO o_released_total, o_released_version, o_released_counts;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    {{.Take}};
    GET DIAGNOSTICS v_n = ROW_COUNT;
    IF v_n <> cardinality(v_sealed) THEN
        RAISE EXCEPTION 'ballots taken by another opener' USING ERRCODE = 'CV004';
    END IF;
    o_opened := true;
END
