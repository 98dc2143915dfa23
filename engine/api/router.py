"""Method + path-pattern routing; an optional `/v1.NN` version prefix is accepted and ignored."""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from engine.api.http import Handler, HijackResponse, Request, Response, StreamResponse
from engine.errors import EngineError, NotFound

_VERSION_PREFIX = re.compile(r"^/v\d+(?:\.\d+)?(?=/)")
_PARAM = re.compile(r"\{(\w+)(?::(path))?\}")


class MethodNotAllowed(EngineError):
    status = 405


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler


def compile_pattern(template: str) -> re.Pattern[str]:
    """`/containers/{id}/json` → regex; `{name:path}` also matches slashes (image names)."""
    out, pos = [], 0
    for m in _PARAM.finditer(template):
        out.append(re.escape(template[pos:m.start()]))
        out.append(f"(?P<{m.group(1)}>.+)" if m.group(2) else f"(?P<{m.group(1)}>[^/]+)")
        pos = m.end()
    out.append(re.escape(template[pos:]))
    return re.compile("^" + "".join(out) + "$")


def strip_version(path: str) -> str:
    return _VERSION_PREFIX.sub("", path, count=1)


class Router:
    def __init__(self) -> None:
        self._routes: list[Route] = []

    def add(self, method: str, template: str, handler: Handler) -> None:
        self._routes.append(Route(method.upper(), compile_pattern(template), handler))

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        path = strip_version(path)
        allowed = False
        for route in self._routes:
            m = route.pattern.match(path)
            if not m:
                continue
            if route.method == method or (method == "HEAD" and route.method == "GET"):
                # matched on the raw path (an encoded `/` stays inside its segment), then each
                # parameter is percent-decoded: `bbx%3Av1` → `bbx:v1`
                return route.handler, {k: unquote(v) for k, v in m.groupdict().items()}
            allowed = True
        if allowed:
            raise MethodNotAllowed(f"method {method} not allowed for {path}")
        raise NotFound(f"page not found: {path}")

    async def dispatch(self, request: Request) -> Response | StreamResponse | HijackResponse:
        handler, params = self.match(request.method, request.path)
        request.params = params
        return await handler(request)
