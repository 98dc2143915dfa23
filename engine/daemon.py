"""The engine daemon: `serve(config)` / `python3 -m engine.daemon`.

Order matters: the root lock (one daemon per state root), then `Runtime.launch()` forks the
zygote while this process is still single-threaded and before pyroute2 is imported, then trio:
recovery after a crash (containers recorded as running are marked exited with code 255 — as
Docker reports a container whose daemon died —, stale overlay mounts and our stale cgroups
removed, netbridge endpoints of dead containers dropped, containers started again as their
restart policy says at a daemon start, exited AutoRemove ones removed), then the API server.
SIGTERM / SIGINT: stop accepting requests,
stop every container with its own stop timeout (in parallel), save state, remove the socket,
remove every bridge, veth and firewall rule netbridge made (the networks stay recorded and are
re-created at the next start), exit 0. A second signal during shutdown kills the containers at once.
"""
from __future__ import annotations

import errno
import fcntl
import logging
import os
import resource
import signal
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import trio

from engine.config import EngineConfig
from engine.errors import EngineError, PycomposeError

log = logging.getLogger("engine")
LOCK_NAME = "engine.lock"


def _take_lock(root: Path) -> int:
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        os.close(fd)
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise EngineError(f"another engine is already running with state root {root}") \
                from None
        raise
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def _check_socket_free(path: Path) -> None:
    """Refuse early (before forking anything) when a live engine already answers there."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        return
    finally:
        probe.close()
    raise EngineError(f"another engine is already listening on {path}")


def _setup_logging(root: Path) -> None:
    handler = logging.FileHandler(root / "engine.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    top = logging.getLogger()
    top.addHandler(handler)
    top.setLevel(logging.INFO)


def _raise_fd_limit() -> None:
    """Soft RLIMIT_NOFILE up to the hard one, as dockerd does: every API connection, container
    pipe, pidfd and log file is a descriptor, and 1024 is soon reached. The API server leaves
    a reserve of them (engine.api.connections)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (OSError, ValueError) as exc:
            log.warning("cannot raise the open-file limit from %d to %d: %s", soft, hard, exc)
            return
    log.info("open-file limit %d", hard)


def serve(config: EngineConfig) -> int:
    """Run the daemon in the foreground until SIGTERM/SIGINT; returns the exit code."""
    lock_fd = _take_lock(config.root)
    try:
        _check_socket_free(config.socket_path)
        _setup_logging(config.root)
        from engine.runtime.runtime import Runtime

        runtime = Runtime.launch()
        # after the zygote's fork: containers keep the limits they inherited before
        _raise_fd_limit()
        try:
            trio.run(_main, config, runtime)
        finally:
            runtime.close()
        log.info("engine stopped")
        return 0
    finally:
        os.close(lock_fd)


def _make_networks(config: EngineConfig) -> Any:
    from engine.netboundary import Networks
    from engine.runtime.steptime import step
    from netbridge import NetworkManager  # pyroute2 comes later (first netlink use), after the fork
    return Networks(NetworkManager(config.root / "network", config.address_pool, step=step))


async def _collect_image_garbage(store: Any) -> None:
    """Blobs and layers a crash left half-imported; in the background (it walks the store)."""
    try:
        await trio.to_thread.run_sync(store.collect_garbage_if_idle)
    except Exception as exc:
        log.error("image store garbage collection: %s", exc)


async def _cleanup_stale_cgroups(driver: Any, ours: set[str]) -> None:
    """Kill and remove the cgroups our containers left (the daemon died with them running).

    Only cgroups of *our* containers (`owned`): other engines (other state roots, test runs)
    share the parent cgroup. Runs before any container starts, so nothing is kept."""
    removed = await trio.to_thread.run_sync(lambda: driver.cleanup_stale(set(), owned=ours))
    if removed:
        log.warning("removed stale cgroups: %s", ", ".join(removed))


async def _main(config: EngineConfig, runtime: Any) -> None:
    from engine.api.app import build_router
    from engine.api.context import Engine
    from engine.api.http import serve_unix
    from engine.containers.manager import ContainerManager
    from engine.images.store import ImageStore
    from engine.runtime import cgroups, rootfs
    from engine.volumes import VolumeStore

    root = config.root
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        driver = cgroups.detect()
        networks = None
        try:
            networks = await trio.to_thread.run_sync(_make_networks, config)
        except Exception as exc:
            log.error("networking disabled: %s", exc)
        manager = ContainerManager(root, runtime=runtime, cgroups=driver, images=None,
                                   volumes=VolumeStore(root / "volumes"), networks=networks)
        manager.images = ImageStore(root / "images", in_use=manager.image_in_use)
        shutdown = trio.Event()
        engine = Engine(config, manager, manager.images, manager.volumes, networks,
                        request_shutdown=shutdown.set,
                        info_extra={"cgroup_version": "2" if driver.mode.value == "v2" else "1"})
        async with trio.open_nursery() as nursery:
            await nursery.start(runtime.serve)
            await nursery.start(manager.run)
            nursery.start_soon(_collect_image_garbage, manager.images)
            to_restart, to_remove = await manager.recover()
            ours = {rec.id for rec in manager.store.all()}
            await trio.to_thread.run_sync(rootfs.cleanup_stale_mounts, root / "containers")
            await _cleanup_stale_cgroups(driver, ours)
            # Network recovery (netbridge: iptables) is slow; the API answers meanwhile and
            # container starts that need a network wait for it (manager.networks_ready).
            nursery.start_soon(_finish_recovery, manager, networks, to_restart, to_remove,
                               nursery)
            router = build_router(engine)
            with trio.CancelScope() as server_scope:
                nursery.start_soon(_watch_signals, signals, shutdown, nursery)
                async with trio.open_nursery() as server:
                    await server.start(serve_unix, config.socket_path, router.dispatch)
                    log.info("engine listening on %s (root %s)", config.socket_path, root)
                    await shutdown.wait()
                    server.cancel_scope.cancel()
            del server_scope
            log.info("shutting down: stopping containers")
            await manager.shutdown()
            nursery.cancel_scope.cancel()
    if networks is not None:
        # containers are stopped and the DNS servers cancelled: bridges, veths, rules and held
        # ports go now, the networks stay recorded for the next start to re-create
        try:
            networks.stop()
        except Exception as exc:
            log.error("removing network objects: %s", exc)


async def _finish_recovery(manager: Any, networks: Any, to_restart: list, to_remove: list,
                           nursery: trio.Nursery) -> None:
    if networks is not None:
        started = trio.current_time()
        try:
            await trio.to_thread.run_sync(networks.cleanup, set())
            await nursery.start(networks.serve)
            log.info("network recovery done in %.0f ms", (trio.current_time() - started) * 1000)
        except Exception:
            log.exception("network recovery failed")
    manager.networks_ready.set()
    for rec in to_remove:  # AutoRemove containers that ended while no engine ran
        try:
            await manager.remove(rec.id, force=True, volumes=True)
        except PycomposeError as exc:
            log.error("removing %s (auto-remove) after engine start: %s", rec.short_id, exc)
    for rec in to_restart:
        try:
            await manager.start_recovered(rec)
        except PycomposeError as exc:
            log.error("restarting %s after engine start: %s", rec.short_id, exc)


async def _watch_signals(signals: Any, shutdown: trio.Event, nursery: trio.Nursery) -> None:
    count = 0
    async for signum in signals:
        count += 1
        log.info("received %s", signal.Signals(signum).name)
        shutdown.set()
        if count >= 2:  # impatient: stop waiting for stop timeouts
            nursery.cancel_scope.cancel()
            return


def main(argv: list[str] | None = None) -> int:
    env = os.environ   # the daemon's edge: nothing below main reads the environment
    try:
        config = EngineConfig.from_env(env)
        _configure_process(env)
        return serve(config)
    except PycomposeError as exc:
        print(f"engine: {exc}", file=sys.stderr)
        return 1
    except BaseExceptionGroup as group:  # a user error raised inside the trio nursery
        user = [e for e in _leaves(group) if isinstance(e, PycomposeError)]
        if not user:
            raise
        print(f"engine: {user[0]}", file=sys.stderr)
        return 1


def _configure_process(env: Mapping[str, str]) -> None:
    """The process-wide settings the daemon's environment names (before any work starts)."""
    from engine.images import decompress
    from engine.runtime import steptime

    steptime.enable(bool(env.get("PYCOMPOSE_STEP_TIMES")))
    decompress.set_limits(decompress.DecompressionLimits.from_env(env))


def _leaves(group: BaseExceptionGroup) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        out.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return out


if __name__ == "__main__":
    sys.exit(main())
