-- Sealed ballots (issue 11); the PostgreSQL flavour says why. SQLite has no row versions to
-- leak, but the same design: a vote writes the participant row and a sealed ballot, and only
-- an opening or the close writes the counts. The box is a WITHOUT ROWID table, so it keeps no
-- insertion order either (a rowid would count the ballots as they came).

-- +goose Up
CREATE TABLE ballots (
    poll_id text NOT NULL REFERENCES polls (id) ON DELETE CASCADE,
    sealed  blob NOT NULL,
    PRIMARY KEY (poll_id, sealed)
) WITHOUT ROWID;

UPDATE polls SET released_total = vote_total, released_counts = vote_counts,
    released_version = released_version + 1
WHERE vote_total <> released_total;
ALTER TABLE polls DROP COLUMN vote_total;
ALTER TABLE polls DROP COLUMN vote_counts;

ALTER TABLE vote_idempotency DROP COLUMN voted_at;
-- Times are stored as the driver writes them: 'YYYY-MM-DD HH:MM:SS.fffffffff+00:00' (UTC).
UPDATE vote_idempotency SET expires_at = strftime('%Y-%m-%d %H:00:00+00:00', expires_at, '+1 hour')
WHERE expires_at <> strftime('%Y-%m-%d %H:00:00+00:00', expires_at);

-- +goose Down
ALTER TABLE vote_idempotency ADD COLUMN voted_at datetime NOT NULL DEFAULT '1970-01-01 00:00:00';
UPDATE vote_idempotency SET voted_at = strftime('%Y-%m-%d %H:%M:%S+00:00', expires_at, '-24 hours');
ALTER TABLE polls ADD COLUMN vote_total integer NOT NULL DEFAULT 0;
ALTER TABLE polls ADD COLUMN vote_counts text NOT NULL DEFAULT '[]';
UPDATE polls SET vote_total = released_total, vote_counts = released_counts;
DROP TABLE ballots;
