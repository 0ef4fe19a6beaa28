-- Moderation: what reports hide until a moderator decides.

-- +goose Up
-- A poll hidden by reports from REPORT_HIDE_POLL_AT distinct reporters, or kept hidden by a
-- moderator's uphold. Members see a hidden poll nowhere (lists, reads, votes, live channels);
-- only the admin API shows it. A dismiss clears it.
ALTER TABLE polls ADD COLUMN hidden_at datetime;
-- A membership reported by REPORT_HIDE_MEMBER_AT distinct reporters: that member cannot create
-- polls in that circle until a moderator decides (dismiss or uphold clears it; an uphold's
-- sanction takes over from there).
ALTER TABLE circle_members ADD COLUMN restricted_at datetime;
-- Counting distinct reporters of one target reads the pending reports by target.
CREATE INDEX reports_target ON reports (target_type, target_id) WHERE status = 'pending';

-- +goose Down
DROP INDEX reports_target;
ALTER TABLE circle_members DROP COLUMN restricted_at;
ALTER TABLE polls DROP COLUMN hidden_at;
