-- A vote in one round trip: PostgreSQL only (a function). SQLite runs the vote's statements
-- in one local transaction (models.Store.voteInTx), where a round trip costs nothing; this
-- migration keeps the two version lists in step.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
