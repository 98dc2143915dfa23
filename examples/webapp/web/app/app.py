"""The webapp: a page with a visit counter kept in PostgreSQL, a small JSON API, and the bundle
that the `assets` service writes. Standard library HTTP server plus psycopg2.

    python3 app.py          serve on $PORT (default 8000)
    python3 app.py health   exit 0 when the server answers and reaches the database
    python3 app.py check    connect to the database directly and say what is there
"""
from __future__ import annotations

import json
import mimetypes
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg2

from dbconn import connect

HERE = Path(__file__).resolve().parent
ASSETS = Path(os.environ.get("ASSETS_DIR", "/srv/assets"))
PORT = int(os.environ.get("PORT", "8000"))
PAGE = (HERE / "index.html").read_text()

_local = threading.local()


def db():
    """One connection per server thread, re-made after a failure."""
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = _local.conn = connect(retry_for=5)
    return conn


def record_visit(path: str, agent: str) -> int:
    conn = db()
    with conn, conn.cursor() as cur:
        cur.execute("INSERT INTO visits (path, agent) VALUES (%s, %s)", (path, agent[:200]))
        cur.execute("SELECT count(*) FROM visits")
        return cur.fetchone()[0]


def visits(limit: int = 5) -> dict:
    conn = db()
    with conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM visits")
        count = cur.fetchone()[0]
        cur.execute("SELECT id, at, path FROM visits ORDER BY id DESC LIMIT %s", (limit,))
        recent = [{"id": i, "at": at.isoformat(), "path": p} for i, at, p in cur.fetchall()]
    return {"count": count, "recent": recent}


class Handler(BaseHTTPRequestHandler):
    server_version = "webapp/1"
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/":
            count = record_visit(path, self.headers.get("User-Agent", ""))
            self.send(200, PAGE.replace("{count}", str(count)).encode(), "text/html; charset=utf-8")
        elif path == "/api/visits":
            self.send_json(200, visits())
        elif path == "/healthz":
            self.send_json(200, {"db": db().server_version})
        elif path.startswith("/static/"):
            self.send_asset(path[len("/static/"):])
        else:
            self.send_json(404, {"error": f"no such page: {path}"})

    def do_POST(self) -> None:
        if self.path.split("?", 1)[0] != "/api/visits":
            self.send_json(404, {"error": f"no such endpoint: {self.path}"})
            return
        count = record_visit(self.path, self.headers.get("User-Agent", ""))
        self.send_json(201, {"count": count})

    def send_asset(self, name: str) -> None:
        target = (ASSETS / name).resolve()
        if ASSETS.resolve() not in target.parents or not target.is_file():
            self.send_json(404, {"error": f"no such asset: {name} (is `assets` running?)"})
            return
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        # no caching: a rebuilt bundle must show on the next reload
        self.send(200, target.read_bytes(), kind, {"Cache-Control": "no-cache"})

    def send_json(self, status: int, body: dict) -> None:
        self.send(status, json.dumps(body).encode() + b"\n", "application/json")

    def send(self, status: int, body: bytes, kind: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except psycopg2.Error as e:
            _local.conn = None
            self.log_message("database error: %s", str(e).strip().splitlines()[0])
            try:
                self.send_json(503, {"error": "database unavailable"})
            except OSError:
                pass

    def log_message(self, fmt: str, *args) -> None:
        if self.path != "/healthz":   # the healthcheck would drown everything else
            print(f"{self.address_string()} {fmt % args}", flush=True)


def serve() -> int:
    server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    server.daemon_threads = True
    # PID 1 gets no default SIGTERM action: stop cleanly on `down` / Ctrl-C instead of waiting
    # for the kill after the stop timeout.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"webapp: listening on :{PORT}, assets from {ASSETS}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


def health() -> int:
    from healthcheck import main   # the compose healthcheck runs healthcheck.py directly

    return main()


def check() -> int:
    started = time.monotonic()
    try:
        conn = connect()
    except psycopg2.OperationalError as e:
        print(f"db: cannot connect: {str(e).strip().splitlines()[0]}", file=sys.stderr)
        return 1
    with conn, conn.cursor() as cur:
        cur.execute("SELECT current_setting('server_version'), (SELECT count(*) FROM visits)")
        version, count = cur.fetchone()
    conn.close()
    host = os.environ.get("DB_HOST", "db")
    print(f"db: connected to {host} in {(time.monotonic() - started) * 1000:.0f} ms: "
          f"PostgreSQL {version.split()[0]}, {count} visits")
    return 0


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "serve"
    actions = {"serve": serve, "health": health, "check": check}
    if command not in actions:
        print(f"usage: app.py [{'|'.join(actions)}]", file=sys.stderr)
        sys.exit(2)
    sys.exit(actions[command]())
