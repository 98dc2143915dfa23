"""The `web` healthcheck: exit 0 when the server answers GET /healthz with 200 (which it does only
when it reaches the database), 1 otherwise.

Only the standard library's socket: the probe runs every 100 ms while the service starts
(healthcheck.start_interval), so it must not pay for the app's own imports (psycopg2,
http.server, urllib: ~100 ms of CPU per probe).
"""
from __future__ import annotations

import os
import socket
import sys


def main() -> int:
    port = int(os.environ.get("PORT", "8000"))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")
            status_line = s.makefile("rb").readline(256)
    except OSError as e:
        print(f"unhealthy: {e}", file=sys.stderr)
        return 1
    parts = status_line.split(None, 2)
    if len(parts) >= 2 and parts[1] == b"200":
        return 0
    print(f"unhealthy: {status_line.decode(errors='replace').strip() or 'no answer'}",
          file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
