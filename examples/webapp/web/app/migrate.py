"""One-shot schema migration (the `migrate` service): applies what is missing, then exits 0.

Safe to run again and concurrently: versions are recorded, and a transaction-scoped advisory
lock serializes runners.
"""
from __future__ import annotations

import sys

from dbconn import connect

MIGRATIONS = {
    1: """
        CREATE TABLE visits (
            id    bigserial PRIMARY KEY,
            at    timestamptz NOT NULL DEFAULT now(),
            path  text NOT NULL,
            agent text NOT NULL DEFAULT ''
        )
    """,
    2: "CREATE INDEX visits_at ON visits (at DESC)",
}


def main() -> int:
    conn = connect(retry_for=30)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(4242)")
            cur.execute("""CREATE TABLE IF NOT EXISTS schema_migrations (
                               version    int PRIMARY KEY,
                               applied_at timestamptz NOT NULL DEFAULT now())""")
            cur.execute("SELECT version FROM schema_migrations")
            done = {row[0] for row in cur.fetchall()}
            applied = []
            for version in sorted(MIGRATIONS):
                if version in done:
                    continue
                cur.execute(MIGRATIONS[version])
                cur.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
                applied.append(version)
        latest = max(MIGRATIONS)
        if applied:
            print(f"migrate: applied {', '.join(map(str, applied))}; schema at version {latest}")
        else:
            print(f"migrate: schema up to date (version {latest})")
        return 0
    finally:
        conn.close()


if __name__ == "__main__":
    sys.exit(main())
