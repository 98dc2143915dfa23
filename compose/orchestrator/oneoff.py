"""`run` (one-off containers) and `exec` (a process in a replica): terminal plumbing included.

These are interactive, so they are plain blocking code with two threads (stdin -> container,
container -> stdout/stderr); trio is only used to start the dependencies of `run`.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from compose.orchestrator import naming
from compose.orchestrator.executor import Orchestrator, UpOptions, summarize_failures
from compose.orchestrator.plan import Observed
from compose.orchestrator.errors import OrchestratorError
from engine.client.cli.stdio import follow_window_size, raw_terminal, terminal_size
from engine.errors import Conflict, EngineError, NotFound


async def find_replica(orch: Orchestrator, service: str, index: int | None = None,
                       running: bool = False) -> Observed:
    """Replica `index` (default: the first) of `service`."""
    replicas = sorted((c for c in await orch.observed(all=True, service=service, oneoff=False)),
                      key=lambda c: c.number or 0)
    if running:
        replicas = [c for c in replicas if c.running]
    if index:
        replicas = [c for c in replicas if c.number == index]
    if not replicas:
        # Compose's wording and exit code 1: this is about the project, not an engine fault.
        if running:
            raise OrchestratorError(f'service "{service}" is not running'
                                    + (f" (no replica {index})" if index else ""))
        raise OrchestratorError(f'service "{service}" has no container'
                                + (f" with index {index}" if index else ""))
    return replicas[0]


@dataclass(frozen=True)
class RunOptions:
    service: str
    command: tuple[str, ...] | None = None
    detach: bool = False
    remove: bool = False
    name: str | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    entrypoint: tuple[str, ...] | None = None
    user: str | None = None
    workdir: str | None = None
    volumes: tuple[str, ...] = ()
    ports: tuple[str, ...] = ()
    service_ports: bool = False
    no_deps: bool = False
    use_aliases: bool = False
    tty: bool = True            # wanted (-T turns it off); only used when stdin is a terminal
    interactive: bool = True


def parse_env(items: list[str] | None, environ: Mapping[str, str]) -> dict[str, str]:
    """`-e K=V` (or `-e K`, taken from the CLI's environment; dropped when unset)."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if sep:
            out[key] = value
        elif key in environ:
            out[key] = environ[key]
    return out


async def prepare_run(orch: Orchestrator, opts: RunOptions) -> tuple[str, bool, bool]:
    """Start the dependencies, create the one-off container; returns (id, tty, stdin)."""
    spec = orch.project.service(opts.service)
    await orch.build([opts.service], always=False)
    deps = [n for n in orch.project.with_dependencies([opts.service]) if n != opts.service]
    if deps and not opts.no_deps:
        result = await orch.up(UpOptions(services=tuple(deps)))
        error = summarize_failures(result)
        if error:
            raise error
    await orch.ensure_networks(spec.networks())
    await orch.ensure_volumes(spec.named_volumes())
    for c in await orch.observed(all=True):   # service: references of the one-off
        if not c.oneoff and (c.number or 1) == 1:
            orch._ids.setdefault(c.service, c.id)
    await orch.resolve_images([opts.service])
    slug = naming.new_slug()
    name = opts.name or naming.oneoff_name(orch.project.name, opts.service, slug)
    tty = opts.tty and not opts.detach and sys.stdin.isatty()
    stdin = opts.interactive and not opts.detach
    body = orch.container_body(
        spec, name, slug=slug, oneoff=True, publish_ports=opts.service_ports,
        extra_ports=opts.ports, use_aliases=opts.use_aliases, command=opts.command,
        entrypoint=opts.entrypoint, environment=opts.environment, user=opts.user,
        workdir=opts.workdir, tty=tty, stdin_open=stdin, extra_volumes=opts.volumes)
    body["AttachStdin"] = stdin
    body["StdinOnce"] = stdin
    if opts.remove:
        # The engine removes it when it exits, also when we are no longer there to (killed,
        # terminal closed): with stdin attached it then stops it too (see run_attached).
        body.setdefault("HostConfig", {})["AutoRemove"] = True
    size = terminal_size() if tty else None
    if size:  # the pty has our size before the command starts (docker's ConsoleSize)
        body.setdefault("HostConfig", {})["ConsoleSize"] = list(size)
    created = await orch.gw.call("create_container", body, name)
    return created["Id"], tty, stdin


class _ClientSignal(BaseException):
    """SIGHUP (the terminal closed) or SIGTERM (`timeout`, a service manager) reached `run`:
    raised from the handler so the blocking copy loop lets go."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def run_attached(client, cid: str, tty: bool, stdin: bool, remove: bool,
                 waiter=None) -> int:
    """Attach, start, copy the streams until the process ends; its exit code.

    With `remove` the container was created with AutoRemove: `waiter` (a second client) waits
    for its removal from before the start, the way the docker CLI reads the exit code of a
    container the engine removes. The one-off goes with us: SIGHUP or SIGTERM stops and removes
    it (then `run` exits 128+signal); when we die unannounced (SIGKILL) the engine sees the
    attach connection close and stops it. Without `remove` those signals are passed on to the
    container, as Ctrl-C is (docker's sig-proxy)."""
    exit_wait = None
    try:
        with _client_signals():
            sock = client.attach(cid, stdin=stdin, stdout=True, stderr=True, tty=tty)
            try:
                if waiter is not None:
                    exit_wait = waiter.request("POST", f"/containers/{cid}/wait",
                                               {"condition": "removed"})
                start_or_raise(client, cid)
                with raw_terminal(0, tty), \
                        follow_window_size(lambda h, w: client.resize(cid, h, w), tty):
                    _pump(sock, tty, stdin, on_interrupt=lambda: _forward(client, cid, "SIGINT"),
                          on_signal=None if remove else
                          lambda signum: _forward(client, cid, signal.Signals(signum).name))
            finally:
                sock.close()
            if exit_wait is not None:
                return int((json.loads(exit_wait.read() or b"{}")).get("StatusCode") or 0)
            return int(client.wait(cid).get("StatusCode", 0))
    except _ClientSignal as e:
        _stop_quietly(client, cid)
        return 128 + e.signum
    finally:
        if exit_wait is not None:
            exit_wait.close()
        if remove:
            try:
                client.remove_container(cid, force=True, volumes=True)
            except (NotFound, Conflict):
                pass   # the engine's auto-removal got there first (or is at it)


@contextmanager
def _client_signals() -> Iterator[None]:
    """SIGHUP and SIGTERM raise _ClientSignal while a one-off runs (main thread only: that is
    where Python runs signal handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: object) -> None:
        raise _ClientSignal(signum)

    previous = {signum: signal.signal(signum, handler)
                for signum in (signal.SIGHUP, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def _stop_quietly(client, cid: str) -> None:
    try:
        client.stop(cid)
    except EngineError:
        pass   # exited, or removed already


def start_or_raise(client, cid: str) -> None:
    """Start; a command that cannot run ends `run` with docker's codes (127 not found, 126 not
    executable), as the process itself would have."""
    try:
        client.start(cid)
    except EngineError as e:
        if e.exit_code in (126, 127):
            raise
        text = e.message.lower()
        err = EngineError(e.message)
        if "not found" in text or "no such file" in text:
            err.exit_code = 127
        elif "permission denied" in text or "not executable" in text:
            err.exit_code = 126
        else:
            raise
        raise err from None


def _forward(client, cid: str, signame: str) -> None:
    try:
        client.kill(cid, signame)
    except Exception:   # noqa: BLE001 - best effort: the container may be gone already
        pass


def exec_in(client, cid: str, command: list[str], *, detach: bool, tty: bool,
            env: Mapping[str, str], user: str | None, workdir: str | None,
            privileged: bool = False, interactive: bool = True) -> int:
    tty = tty and not detach and sys.stdin.isatty()
    stdin = interactive and not detach
    exec_id = client.exec_create(cid, command, stdin=stdin, tty=tty,
                                 env=[f"{k}={v}" for k, v in env.items()] or None,
                                 user=user, workdir=workdir, privileged=privileged)
    if detach:
        client.exec_start_detached(exec_id)
        return 0
    sock = client.exec_start(exec_id, tty=tty, console_size=terminal_size() if tty else None)
    try:
        with raw_terminal(0, tty), \
                follow_window_size(lambda h, w: client.exec_resize(exec_id, h, w), tty):
            _pump(sock, tty, stdin)
    finally:
        sock.close()
    code = client.exec_inspect(exec_id).get("ExitCode")
    return 0 if code is None else int(code)


def _pump(sock, tty: bool, stdin: bool, on_interrupt=None, on_signal=None) -> None:
    if stdin:
        threading.Thread(target=_copy_stdin, args=(sock,), daemon=True).start()
    while True:
        try:
            for stream, data in sock.frames():
                os.write(2 if stream == 2 and not tty else 1, data)
            return
        except KeyboardInterrupt:
            if on_interrupt is None:
                raise
            on_interrupt()
        except _ClientSignal as e:
            if on_signal is None:
                raise
            on_signal(e.signum)


def _copy_stdin(sock) -> None:
    try:
        while True:
            data = os.read(0, 65536)
            if not data:
                break
            sock.send(data)
    except OSError:
        pass
    sock.close_write()
