#!/bin/sh
# One-shot schema migration (the `migrate` service): applies the files in migrations/ that the
# database has not seen yet (NNN_name.sql, in order), then exits 0.
#
# Safe to run again and concurrently: applied versions are recorded in schema_migrations, and
# the whole run is one transaction holding an advisory lock. `up` starts this again every time
# (as Docker Compose does with an exited one-shot) and `web` waits for it, so a run with nothing
# to do must be cheap: one psql (the C client, not Debian's perl wrapper), one connection.
set -eu

dir=${MIGRATIONS_DIR:-$(dirname "$0")/migrations}
for psql in /usr/lib/postgresql/*/bin/psql; do :; done    # the newest installed client
IFS= read -r PGPASSWORD < "${DB_PASSWORD_FILE:-/run/secrets/db_password}" || true
export PGPASSWORD PGHOST="${DB_HOST:-db}" PGDATABASE="${DB_NAME:-app}" PGUSER="${DB_USER:-app}"
export PGCONNECT_TIMEOUT=3 PGAPPNAME=webapp-migrate PGOPTIONS="-c client_min_messages=warning"

latest=0
line() { printf "%s\n" "$1"; }   # not echo: dash's echo would read the backslashes
script() {   # the run as one psql script; what it did is echoed at the end
    line 'BEGIN;'
    line 'SELECT pg_advisory_xact_lock(4242);'
    line 'CREATE TABLE IF NOT EXISTS schema_migrations ('
    line '    version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());'
    line "\\set applied ''"
    line "\\set sep ''"
    for file in "$dir"/[0-9]*_*.sql; do
        [ -e "$file" ] || continue
        version=${file##*/}
        version=${version%%_*}
        while [ "${version#0}" != "$version" ] && [ -n "${version#0}" ]; do
            version=${version#0}
        done
        latest=$version
        line "SELECT NOT EXISTS (SELECT FROM schema_migrations WHERE version = $version) AS todo \\gset"
        line '\if :todo'
        line "\\i $file"
        line "INSERT INTO schema_migrations (version) VALUES ($version);"
        line "\\set applied :applied :sep $version"
        line "\\set sep ', '"
        line '\endif'
    done
    line 'COMMIT;'
    line "SELECT :'applied' = '' AS current \\gset"
    line '\if :current'
    line "\\echo migrate: schema up to date (version $latest)"
    line '\else'
    line "\\echo migrate: applied :applied; schema at version $latest"
    line '\endif'
}

# The server may still be starting (psql's exit 2: no connection): retry quietly for up to 30 s,
# then (if it still failed) once more with its errors shown.
tries=0
while [ "$tries" -lt 60 ]; do
    status=0
    script | "$psql" -X -q -o /dev/null -v ON_ERROR_STOP=1 -f - 2>/dev/null || status=$?
    [ "$status" -eq 2 ] || break
    tries=$((tries + 1))
    sleep 0.5
done
if [ "$status" -ne 0 ]; then
    script | "$psql" -X -q -o /dev/null -v ON_ERROR_STOP=1 -f -
fi
