#!/usr/bin/env bash
# Restore a deploy/backup.sh archive into a NEW database (never over a live one): create it, restore in
# one transaction (all or nothing), and stop at the first error.
#
#   deploy/restore.sh FILE.dump NEW_DATABASE_URL
#
# The database named in NEW_DATABASE_URL must not exist; it is created through the server's maintenance
# database (MAINTENANCE_DB, default postgres). PG_BIN as in backup.sh. Then point DATABASE_URL at it and
# start the processes (release first: `tm-admin migrate` brings an older dump up to the code's schema).
set -euo pipefail
if [ $# -ne 2 ]; then
    echo "usage: $0 FILE.dump NEW_DATABASE_URL" >&2
    exit 2
fi
file=$1
url=$2
bin=${PG_BIN:+$PG_BIN/}
rest=${url#*://}
name=${rest#*/}
name=${name%%\?*}
if ! [[ $name =~ ^[a-z_][a-z0-9_]{0,62}$ ]]; then
    echo "the database name in NEW_DATABASE_URL must be lower-case letters, digits and _ (got '$name')" >&2
    exit 2
fi
maintenance=${url/\/$name/\/${MAINTENANCE_DB:-postgres}}
"${bin}pg_restore" --list "$file" > /dev/null
"${bin}psql" --no-psqlrc --quiet -v ON_ERROR_STOP=1 --dbname="$maintenance" -c "CREATE DATABASE \"$name\""
"${bin}pg_restore" --no-owner --no-privileges --exit-on-error --single-transaction --dbname="$url" "$file"
echo "restored $file into database $name"
