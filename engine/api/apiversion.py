"""The API version a request was made at (its `/v1.NN` prefix), for the few answers Docker
changed between versions. A request without a prefix is at our own API version."""
from __future__ import annotations

import re

from engine.api.http import Request

CURRENT = (1, 41)   # engine.api.routes_system.API_VERSION, as a tuple
_PREFIX = re.compile(r"^/v(\d+)\.(\d+)(?=/)")


def request_version(req: Request) -> tuple[int, int]:
    m = _PREFIX.match(req.path)
    return (int(m.group(1)), int(m.group(2))) if m else CURRENT
