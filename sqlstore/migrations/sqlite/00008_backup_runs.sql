-- Off-site backups that completed.

-- +goose Up
-- `circly backup` runs as its own process (a CronJob); it records each backup that was uploaded
-- and verified here, and every replica exports the newest finished_at as
-- circly_backup_last_success_timestamp_seconds for the "no recent backup" alert.
CREATE TABLE backup_runs (
    id          integer PRIMARY KEY AUTOINCREMENT,
    name        text NOT NULL UNIQUE,
    started_at  datetime NOT NULL,
    finished_at datetime NOT NULL,
    size_bytes  integer NOT NULL
);
CREATE INDEX backup_runs_finished ON backup_runs (finished_at);

-- +goose Down
DROP TABLE backup_runs;
