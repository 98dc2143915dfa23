"""Which requests are abandoned when their client goes away before the answer.

Docker cancels a request's context when its client disconnects. Here the HTTP server watches
the connection of the requests `abandoned_on_disconnect` names and cancels their handler when
it reads EOF; every other request runs to its end, answered or not.

Abandoned (cancelling leaves nothing half-done):
- GET / HEAD: they only read.
- POST /containers/{id}/stop, /restart: what is cut is the wait for the process to exit when
  that wait has no end (`t=-1`); with a timeout the stop finishes (signal, grace period, kill),
  and once the old process is gone a restart always starts the new one (manager.stop/restart).
- POST /containers/{id}/kill: the signal is sent at once; only the wait for the exit is cut.
- POST /containers/{id}/start: only the wait for networking (at engine start) is cut; from the
  mount to PID 1 running, a start is never abandoned half-way (manager._launch).

Finished anyway, because half of it would be worse than all of it: create (files, volumes, its
record), remove, pause/unpause, rename, exec create, update, prune, volume and network
create/connect/remove, image tag/remove/load/pull/build/push (the streaming ones stop writing
when the client goes, their work finishes), archive upload, shutdown. Streamed bodies (logs,
events, stats, wait) and hijacked connections (attach, exec start) have their own watch.
"""
from __future__ import annotations

import re

_VERSION_PREFIX = re.compile(r"^/v\d+(?:\.\d+)?(?=/)")
_ABANDONED_POSTS = re.compile(r"^/containers/[^/]+/(?:start|stop|restart|kill)$")


def abandoned_on_disconnect(method: str, path: str) -> bool:
    if method in ("GET", "HEAD"):
        return True
    return method == "POST" and bool(_ABANDONED_POSTS.match(_VERSION_PREFIX.sub("", path, 1)))
