"""A small HTTP/1.1 server on trio + h11 over a unix socket.

Handlers are `async def handler(request) -> Response | StreamResponse | HijackResponse`. Typed
`PycomposeError`s become `{"message": ...}` with their `status`; anything else is logged with its
traceback and answered with 500, never taking the server down. A request whose client leaves
before the answer is cancelled when `engine.api.disconnect` says that is safe; connections are
limited per client process and in all (`engine.api.connections`).
"""
from __future__ import annotations

import errno
import json
import logging
import os
import resource
import socket
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, AsyncIterator, Awaitable, Callable
from urllib.parse import parse_qs, urlsplit

import h11
import trio

from engine.api import peer as peers
from engine.api.connections import (Admission, Connection, ConnectionTable, Limits,
                                    RateLimitedLog)
from engine.api.disconnect import DisconnectMonitor, abandoned_on_disconnect
from engine.errors import BadParameter, EngineError, PycomposeError

log = logging.getLogger("engine.api")
_pressure = RateLimitedLog(log)
# the kernel is out of something a connection needs: fds (ours or the system's), memory
_CAPACITY_ERRNOS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
HEAD_READ_WAIT = 2.0   # seconds a hijacking client gets to read the response head

MAX_HEADER_BYTES = 64 * 1024
SPOOL_BYTES = 8 * 1024 * 1024
SERVER_HEADER = ("Server", "pycompose-engine")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: IO[bytes]
    params: dict[str, str] = field(default_factory=dict)

    @property
    def upgrade(self) -> bool:
        return "upgrade" in self.headers.get("connection", "").lower() and bool(
            self.headers.get("upgrade"))

    def body_bytes(self) -> bytes:
        self.body.seek(0)
        return self.body.read()

    def json(self, default: Any = None) -> Any:
        data = self.body_bytes()
        if not data.strip():
            return default
        try:
            return json.loads(data)
        except ValueError as exc:
            raise BadParameter(f"invalid JSON body: {exc}") from None

    def arg(self, name: str, default: str | None = None) -> str | None:
        # a repeated parameter: the first value, as Go's Query().Get (Docker) takes it
        values = self.query.get(name)
        return values[0] if values else default

    def args(self, name: str) -> list[str]:
        return list(self.query.get(name, []))

    def bool_arg(self, name: str, default: bool = False) -> bool:
        value = self.arg(name)
        if value is None or value == "":
            return default
        lowered = value.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise BadParameter(f"invalid boolean for query parameter {name!r}: {value!r}")

    def int_arg(self, name: str, default: int | None = None) -> int | None:
        value = self.arg(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise BadParameter(f"invalid integer for query parameter {name!r}: {value!r}") from None

    def filters(self) -> dict[str, list[str]]:
        """Docker's `filters` query: {"key": ["v", ...]} or the legacy {"key": {"v": true}}."""
        raw = self.arg("filters")
        if not raw:
            return {}
        try:
            data = json.loads(raw)
        except ValueError:
            raise BadParameter(f"invalid filters: {raw!r}") from None
        if not isinstance(data, dict):
            raise BadParameter(f"invalid filters: {raw!r}")
        out: dict[str, list[str]] = {}
        for key, value in data.items():
            if isinstance(value, dict):
                out[key] = [k for k, on in value.items() if on]
            elif isinstance(value, list):
                out[key] = [str(v) for v in value]
            else:
                out[key] = [str(value)]
        return out


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)


def json_response(obj: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(obj).encode() + b"\n")


def empty_response(status: int = 204) -> Response:
    return Response(status, b"", None)


@dataclass
class StreamResponse:
    """A chunked body produced by an async iterator (logs, load progress, image tarballs)."""
    body: AsyncIterator[bytes]
    content_type: str = "application/json"
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)   # X-Docker-Container-Path-Stat


class RawConnection:
    """The client's socket after hijacking: bytes both ways, plus the bytes h11 already read."""

    def __init__(self, stream: trio.SocketStream, initial: bytes) -> None:
        self._stream = stream
        self._pending = initial

    async def receive_some(self, max_bytes: int = 65536) -> bytes:
        if self._pending:
            data, self._pending = self._pending, b""
            return data
        try:
            return await self._stream.receive_some(max_bytes)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return b""

    async def send_all(self, data: bytes) -> None:
        await self._stream.send_all(data)

    async def close_write(self) -> None:
        try:
            await self._stream.send_eof()
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass

    def peer_gone(self) -> bool:
        """Has the client closed its end entirely, not just its writing half (stdin EOF)? A unix
        socket says so with POLLHUP while we still write (TCP cannot tell: False there)."""
        try:
            fd = self._stream.socket.fileno()
        except (AttributeError, OSError):
            return True
        return peers.hung_up(fd)


@dataclass
class HijackResponse:
    """Attach/exec: after 101 (client sent `Upgrade: tcp`) or a bare 200, a raw bidirectional stream."""
    run: Callable[[RawConnection], Awaitable[None]]
    content_type: str = "application/vnd.docker.raw-stream"


Handler = Callable[[Request], Awaitable["Response | StreamResponse | HijackResponse"]]
Dispatch = Callable[[Request], Awaitable["Response | StreamResponse | HijackResponse"]]


def _log_failure(what: str, exc: BaseException) -> None:
    """A bug gets its traceback; running out of descriptors is a condition, said once a
    minute."""
    if isinstance(exc, OSError) and exc.errno in _CAPACITY_ERRNOS:
        _pressure.warning(what, f"{what} failed: {os.strerror(exc.errno)}")
    else:
        log.error("%s failed:\n%s", what, "".join(traceback.format_exception(exc)))


def error_response(exc: BaseException) -> Response:
    if isinstance(exc, PycomposeError):
        status = getattr(exc, "status", 500)
        return json_response({"message": exc.message}, status)
    if isinstance(exc, OSError) and exc.errno in _CAPACITY_ERRNOS:
        # not a bug of the handler: the engine is out of descriptors (a connection flood, or
        # the host's limit); said once a minute, the client gets a 503 it can retry
        _pressure.warning("request", f"a request failed: {os.strerror(exc.errno)}")
        return json_response({"message": f"engine busy: {os.strerror(exc.errno)}"}, 503)
    log.error("internal error:\n%s", "".join(traceback.format_exception(exc)))
    return json_response({"message": f"internal error: {exc}"}, 500)


async def _read_request(conn: h11.Connection, stream: trio.SocketStream,
                        record: Connection | None = None) -> Request | None:
    """The next request, or None when the client closed (or `record` was evicted while idle:
    until its first bytes arrive, a connection may be closed to make room)."""
    head: h11.Request | None = None
    body: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    started = False
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            if conn.they_are_waiting_for_100_continue:  # curl does this for big uploads
                await stream.send_all(conn.send(h11.InformationalResponse(status_code=100,
                                                                          headers=[])))
            try:
                if started or record is None:
                    data = await stream.receive_some(65536)
                else:
                    data = await record.receive_idle(stream.receive_some)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            started = True
            conn.receive_data(data)
            continue
        started = True
        if isinstance(event, h11.Request):
            head = event
        elif isinstance(event, h11.Data):
            body.write(event.data)
        elif isinstance(event, h11.EndOfMessage):
            break
        else:  # ConnectionClosed, or PAUSED with no request (client misbehaving)
            body.close()
            return None
    target = urlsplit(head.target.decode("latin-1"))
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in head.headers}
    body.seek(0)
    return Request(
        method=head.method.decode("ascii").upper(),
        path=target.path,
        query=parse_qs(target.query, keep_blank_values=True),
        headers=headers,
        body=body,
    )


async def _send(conn: h11.Connection, stream: trio.SocketStream, event: Any) -> None:
    data = conn.send(event)
    if data:
        await stream.send_all(data)


def _headers(content_type: str | None, extra: list[tuple[str, str]]) -> list[tuple[str, str]]:
    headers = [SERVER_HEADER, ("Api-Version", "1.41")]
    if content_type:
        headers.append(("Content-Type", content_type))
    return headers + extra


async def _send_response(conn: h11.Connection, stream: trio.SocketStream, request: Request,
                         resp: Response) -> None:
    headers = _headers(resp.content_type, resp.headers)
    headers.append(("Content-Length", str(len(resp.body))))
    await _send(conn, stream, h11.Response(status_code=resp.status, headers=headers))
    if resp.body and request.method != "HEAD":
        await _send(conn, stream, h11.Data(data=resp.body))
    await _send(conn, stream, h11.EndOfMessage())


async def _produce(body: AsyncIterator[bytes], send: trio.MemorySendChannel[bytes],
                   failed: list[BaseException]) -> None:
    """Runs the body in its own task, so cancel scopes a body generator holds across its yields
    stay on this task's stack and are unwound here, not inside the sending task."""
    aclose = getattr(body, "aclose", None)
    try:
        async with send:
            try:
                async for chunk in body:
                    if chunk:
                        await send.send(chunk)
            finally:
                # No cancel scope may be opened between the body's last yield and its close:
                # the body unwinds the scopes it holds, which must be the innermost ones.
                if aclose is not None:
                    await aclose()
    except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
        failed.append(exc)
    except Exception as exc:  # headers are gone: all we can do is log and cut the stream
        _log_failure("stream", exc)
        failed.append(exc)


async def _watch_peer(conn: h11.Connection, stream: trio.SocketStream,
                      gone: trio.CancelScope) -> None:
    """A streaming client sends nothing until the body ends; EOF or an error means it left,
    and the stream is cut at once instead of at the next (maybe never) chunk."""
    while True:
        try:
            data = await stream.receive_some(65536)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            data = b""
        if not data:
            gone.cancel()
            return
        conn.receive_data(data)  # a pipelined next request: h11 keeps it for the next cycle


async def _send_stream(conn: h11.Connection, stream: trio.SocketStream,
                       resp: StreamResponse) -> bool:
    """Chunked body; returns False if the stream broke mid-way (the connection must close)."""
    await _send(conn, stream, h11.Response(status_code=resp.status,
                                           headers=_headers(resp.content_type, resp.headers)))
    failed: list[BaseException] = []
    send, receive = trio.open_memory_channel[bytes](16)
    with trio.CancelScope() as peer_gone:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_produce, resp.body, send, failed)
            nursery.start_soon(_watch_peer, conn, stream, peer_gone)
            try:
                async with receive:
                    async for chunk in receive:
                        await _send(conn, stream, h11.Data(data=chunk))
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                failed.append(exc)
            nursery.cancel_scope.cancel()
    if peer_gone.cancelled_caught or failed:
        return False
    await _send(conn, stream, h11.EndOfMessage())
    return True


async def _hijack(conn: h11.Connection, stream: trio.SocketStream, request: Request,
                  resp: HijackResponse) -> None:
    if request.upgrade and conn.their_state is h11.MIGHT_SWITCH_PROTOCOL:
        await _send(conn, stream, h11.InformationalResponse(status_code=101, headers=[
            ("Connection", "Upgrade"), ("Upgrade", "tcp"), ("Content-Type", resp.content_type)]))
    else:
        # Docker answers a non-upgrade attach with a bare 200 and then the raw stream until close.
        await stream.send_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: " + resp.content_type.encode()
            + b"\r\nConnection: close\r\n\r\n")
    initial, _closed = conn.trailing_data
    await _until_head_read(stream)
    try:
        await resp.run(RawConnection(stream, bytes(initial)))
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        pass
    except Exception as exc:
        _log_failure("raw stream", exc)


async def _until_head_read(stream: trio.SocketStream) -> None:
    """Stream bytes may follow the response head only once the client has read the head.

    Clients such as the docker SDK read the head through a buffered reader and then read the
    stream from the raw socket: stream bytes that arrived with the head (exec output, an
    attach's replayed logs) would sit in that reader's buffer and be lost. The kernel counts
    what the client has not read yet (SIOCOUTQ); no readiness event reports it reaching 0,
    so it is polled, at once and then at growing intervals. A client that does not read
    within HEAD_READ_WAIT is not waited for further."""
    try:
        fd = stream.socket.fileno()
        pending = peers.unread_bytes(fd)
    except (AttributeError, OSError):
        return  # not a unix socket: nothing to observe
    pause = 0.0001
    with trio.move_on_after(HEAD_READ_WAIT):
        while pending > 0:
            await trio.sleep(pause)
            pause = min(pause * 2, 0.005)
            try:
                pending = peers.unread_bytes(fd)
            except OSError:
                return


async def _dispatch_abandonable(monitor: DisconnectMonitor, stream: trio.SocketStream,
                               dispatch: Dispatch, request: Request
                               ) -> Response | StreamResponse | HijackResponse | None:
    """Run the handler; None if it was cancelled because its client went away."""
    with monitor.watching(stream.socket.fileno()) as scope:
        try:
            return await dispatch(request)
        except Exception as exc:
            return error_response(exc)
    if scope.cancelled_caught:
        log.info("client of %s %s left; request cancelled", request.method, request.path)
    return None


async def handle_connection(stream: trio.SocketStream, dispatch: Dispatch,
                            record: Connection | None = None,
                            monitor: DisconnectMonitor | None = None) -> None:
    """Serve one client's requests until it closes. With `monitor`, the requests
    `abandoned_on_disconnect` names are cancelled when the client leaves."""
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
    try:
        while True:
            try:
                request = await _read_request(conn, stream, record)
            except h11.RemoteProtocolError as exc:
                if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    await _send_response(conn, stream, Request("GET", "/", {}, {}, None),  # type: ignore[arg-type]
                                         json_response({"message": f"bad request: {exc}"}, 400))
                return
            if request is None:
                return
            try:
                if monitor is not None and abandoned_on_disconnect(request.method, request.path):
                    resp = await _dispatch_abandonable(monitor, stream, dispatch, request)
                    if resp is None:
                        return
                else:
                    try:
                        resp = await dispatch(request)
                    except Exception as exc:
                        resp = error_response(exc)
                if isinstance(resp, HijackResponse):
                    await _hijack(conn, stream, request, resp)
                    return
                if isinstance(resp, StreamResponse):
                    if not await _send_stream(conn, stream, resp):
                        return
                else:
                    await _send_response(conn, stream, request, resp)
            finally:
                request.body.close()
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()
    except (trio.BrokenResourceError, trio.ClosedResourceError, h11.LocalProtocolError):
        return
    finally:
        with trio.CancelScope(shield=True):
            await stream.aclose()


def fd_limit() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def serve_unix(path: Path, dispatch: Dispatch,
                     task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED, *,
                     limits: Limits | None = None) -> None:
    """Listen on `path` (mode 0660, parent created) until cancelled; the socket file is removed.
    `limits` default to what the fd limit allows (`Limits.for_fd_limit`)."""
    if not path.parent.exists():
        # 0755 whatever the umask: the warm CLI refuses a socket directory others can write to
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o755)
    if path.is_socket() or path.exists():
        # A leftover of a dead engine is unlinked; one that answers belongs to a live engine
        # (with another state root) and is not ours to take over.
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(path))
            raise EngineError(f"another engine is already listening on {path}")
        except OSError:
            path.unlink()
        finally:
            probe.close()
    sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        await sock.bind(str(path))
        os.chmod(path, 0o660)
        sock.listen(128)
        table = ConnectionTable(limits or Limits.for_fd_limit(fd_limit()))
        monitor = DisconnectMonitor()
        task_status.started()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(monitor.run)
            await _accept_forever(sock, table, monitor, dispatch, nursery)
    finally:
        sock.close()
        try:
            path.unlink()
        except FileNotFoundError:
            pass


async def _accept_forever(sock: trio.socket.SocketType, table: ConnectionTable,
                          monitor: DisconnectMonitor, dispatch: Dispatch,
                          nursery: trio.Nursery) -> None:
    while True:
        try:
            client, _addr = await sock.accept()
        except OSError as exc:
            if exc.errno in _CAPACITY_ERRNOS:
                await _relieve_pressure(table, exc.errno)
            elif exc.errno not in (errno.ECONNABORTED, errno.EPROTO, errno.EINTR):
                raise
            continue
        peer = peers.peer_of(client)
        record, plan = table.admit(peer)
        if plan.refused or plan.evict:
            _report_limit(table.limits, peer, plan)
        nursery.start_soon(_serve_one, trio.SocketStream(client), dispatch, table, monitor,
                           record, plan.refused)


def _report_limit(limits: Limits, peer: peers.Peer, plan: Admission) -> None:
    """Once a minute per offending client process (its own limit) or for all (the total):
    a flood of many processes must not flood the log too."""
    key = f"{'refused' if plan.refused else 'evicted'} {peer.pid if plan.per_peer else 'all'}"
    if plan.refused:
        _pressure.warning(key, f"connection refused: {plan.refused}")
    elif plan.per_peer:
        _pressure.warning(key, f"{peer} reached {limits.per_peer} connections, the most one "
                               "client process may hold: closing its oldest idle ones")
    else:
        _pressure.warning(key, f"{limits.total} API connections open, the most the fd limit "
                               "leaves room for: closing the oldest idle ones")


async def _relieve_pressure(table: ConnectionTable, err: int) -> None:
    """accept() found no fd (ours or the system's): close the oldest idle connections to get
    some back, or else wait for any connection to close (at most 0.1 s: fds also come back
    when containers exit)."""
    _pressure.warning("accept", f"accepting API connections: {os.strerror(err)} "
                                f"({len(table)} open); closing idle ones")
    if not table.evict_oldest_idle(16):
        with trio.move_on_after(0.1):
            await table.closed.wait()
    else:
        await trio.lowlevel.checkpoint()


async def _serve_one(stream: trio.SocketStream, dispatch: Dispatch, table: ConnectionTable,
                     monitor: DisconnectMonitor, record: Connection | None,
                     refused: str | None) -> None:
    """The task boundary of one client: whatever goes wrong here is logged, never allowed to
    reach the accept loop (which would take the whole daemon down)."""
    try:
        if record is None:
            await _refuse(stream, refused or "too many connections")
        else:
            await handle_connection(stream, dispatch, record, monitor)
    except Exception as exc:
        _log_failure("connection handler", exc)
    finally:
        if record is not None:
            table.release(record)


async def _refuse(stream: trio.SocketStream, reason: str) -> None:
    body = json.dumps({"message": reason}).encode() + b"\n"
    head = (f"HTTP/1.1 503 Service Unavailable\r\nServer: {SERVER_HEADER[1]}\r\n"
            "Content-Type: application/json\r\nConnection: close\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    try:
        with trio.move_on_after(1):
            await stream.send_all(head + body)
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        pass
    finally:
        with trio.CancelScope(shield=True):
            await stream.aclose()
