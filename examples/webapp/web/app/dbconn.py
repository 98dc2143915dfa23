"""Connection settings from the environment; the password from the compose secret's file."""
from __future__ import annotations

import os
import time

import psycopg2


def password() -> str:
    path = os.environ.get("DB_PASSWORD_FILE", "/run/secrets/db_password")
    with open(path) as f:
        return f.readline().rstrip("\n")


def connect(retry_for: float = 0.0):
    """A new connection; retried for `retry_for` seconds while the server is not up yet."""
    deadline = time.monotonic() + retry_for
    while True:
        try:
            return psycopg2.connect(host=os.environ.get("DB_HOST", "db"),
                                    dbname=os.environ.get("DB_NAME", "app"),
                                    user=os.environ.get("DB_USER", "app"),
                                    password=password(), connect_timeout=3,
                                    application_name="webapp")
        except psycopg2.OperationalError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)
