#!/usr/bin/env bash
# Logical backup of the application database: one pg_dump archive in custom format (compressed, restorable
# table by table, readable by pg_restore of the same or a newer PostgreSQL).
#
#   deploy/backup.sh DATABASE_URL FILE.dump
#
# PG_BIN: folder of the PostgreSQL client programs to use (pg_dump must be at least the server's major
# version); unset: the ones on PATH. docs/deploy.md runs it nightly; tests/integration/deploy runs it too.
set -euo pipefail
if [ $# -ne 2 ]; then
    echo "usage: $0 DATABASE_URL FILE.dump" >&2
    exit 2
fi
url=$1
file=$2
bin=${PG_BIN:+$PG_BIN/}
tmp="$file.part"
"${bin}pg_dump" --format=custom --compress=6 --no-owner --no-privileges --dbname="$url" --file="$tmp"
"${bin}pg_restore" --list "$tmp" > /dev/null  # the archive is complete and readable
mv "$tmp" "$file"
echo "backup written to $file ($(wc -c < "$file") bytes)"
