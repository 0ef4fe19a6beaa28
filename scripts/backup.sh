#!/usr/bin/env bash
# Back up the Circly PostgreSQL database and keep 7 days of backups.
# Usage: DATABASE_URL=postgres://… scripts/backup.sh [backup-dir]   (default ./backups)
# Writes circly-<UTC time>.dump (pg_dump custom format, compressed), checks it is readable,
# then deletes backups older than RETENTION_DAYS (default 7). Run it daily (cron, a k8s
# CronJob); restore with scripts/restore.sh.
set -euo pipefail

: "${DATABASE_URL:?set DATABASE_URL to the database to back up}"
dir=${1:-./backups}
retention=${RETENTION_DAYS:-7}
mkdir -p "$dir"

stamp=$(date -u +%Y%m%dT%H%M%SZ)
final="$dir/circly-$stamp.dump"
partial="$final.partial"
trap 'rm -f "$partial"' EXIT

pg_dump --format=custom --no-owner --no-privileges --file="$partial" "$DATABASE_URL"
# A dump that pg_restore cannot list is not a backup.
pg_restore --list "$partial" >/dev/null
mv "$partial" "$final"
echo "backup written: $final ($(du -h "$final" | cut -f1))"

# Retention: only our own files, and never the one just written.
find "$dir" -maxdepth 1 -type f -name 'circly-*.dump' -mtime "+$((retention - 1))" ! -path "$final" -print -delete |
  sed 's/^/expired backup deleted: /'
