#!/bin/sh
# First start on an empty volume: make the cluster, the role and the database, with the password
# read from the compose secret. Later starts find PG_VERSION and go straight to the server.
set -eu

: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_USER:=app}"
: "${POSTGRES_DB:=app}"
: "${POSTGRES_PASSWORD_FILE:=/run/secrets/db_password}"

as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; }

mkdir -p "$PGDATA" /run/postgresql
chown postgres:postgres "$PGDATA" /run/postgresql
chmod 700 "$PGDATA"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ ! -r "$POSTGRES_PASSWORD_FILE" ]; then
        echo "entrypoint: no password file at $POSTGRES_PASSWORD_FILE (a compose secret)" >&2
        exit 1
    fi
    pwfile=$(mktemp)
    head -n 1 "$POSTGRES_PASSWORD_FILE" | tr -d '\n' > "$pwfile"
    chown postgres "$pwfile"
    # --no-sync, then one syncfs: as safe once it returns, ~0.7 s sooner than initdb's own
    # file-by-file fsync (this is on the path of a first `up --wait`)
    as_postgres initdb --username=postgres --pwfile="$pwfile" --auth-local=peer \
        --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 --no-sync -D "$PGDATA" \
        >/dev/null
    sync -f "$PGDATA"
    echo "host all all 0.0.0.0/0 scram-sha-256" >> "$PGDATA/pg_hba.conf"
    # a private server (unix socket only) for the set-up, then the real one
    as_postgres pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
    password=$(cat "$pwfile")
    as_postgres psql -v ON_ERROR_STOP=1 -q -d postgres \
        -v user="$POSTGRES_USER" -v db="$POSTGRES_DB" -v password="$password" <<'SQL'
CREATE ROLE :"user" LOGIN PASSWORD :'password';
CREATE DATABASE :"db" OWNER :"user";
SQL
    as_postgres pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    rm -f "$pwfile"
    echo "entrypoint: initialized $PGDATA (database $POSTGRES_DB, owner $POSTGRES_USER)"
fi

if [ "$1" = postgres ]; then
    shift
    exec setpriv --reuid=postgres --regid=postgres --init-groups -- \
        postgres -D "$PGDATA" -c listen_addresses='*' "$@"
fi
exec "$@"
