#!/usr/bin/env bash
# Restore a backup made by scripts/backup.sh into a database.
# Usage: TARGET_DATABASE_URL=postgres://… scripts/restore.sh <file.dump>
# The target should be an empty database (create it first); restoring over a live database
# needs --clean, which RESTORE_CLEAN=1 adds. Stop the API (or point it elsewhere) first.
set -euo pipefail

: "${TARGET_DATABASE_URL:?set TARGET_DATABASE_URL to the database to restore into}"
file=${1:?usage: restore.sh <file.dump>}
[ -r "$file" ] || { echo "cannot read $file" >&2; exit 1; }

args=(--no-owner --no-privileges --exit-on-error --single-transaction)
if [ "${RESTORE_CLEAN:-0}" = 1 ]; then
  args+=(--clean --if-exists)
fi
pg_restore "${args[@]}" --dbname="$TARGET_DATABASE_URL" "$file"
echo "restored $file"
