"""Start the engine daemon in the background when its socket does not answer.

Several CLIs may find the engine down at once: an flock on `$ROOT/.autostart.lock` lets one of
them start it while the others wait for the same `/_ping`.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

from engine.errors import EngineUnavailable

START_TIMEOUT = 10.0


def start_daemon(config, env: dict[str, str] | None = None, timeout: float = START_TIMEOUT,
                 argv: list[str] | None = None) -> int | None:
    """Start `python3 -m engine.daemon` (or `argv`) detached (own session, output to
    $ROOT/engine.log) and wait until it answers `/_ping`. Returns the new daemon's pid (None if
    another process started it meanwhile)."""
    import fcntl

    from engine.client.api import Client

    root = config.root
    log_path = root / "engine.log"
    try:
        root.mkdir(parents=True, exist_ok=True)
        lock = open(root / ".autostart.lock", "w")
    except OSError as e:
        raise EngineUnavailable(f"cannot start the engine: {root}: {e.strerror}") from None
    client = Client(config.socket_path)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if client.ping():
            return None
        child_env = dict(os.environ if env is None else env)
        child_env["PYCOMPOSE_ROOT"] = str(root)
        child_env["PYCOMPOSE_HOST"] = f"unix://{config.socket_path}"
        child_env.setdefault("PYCOMPOSE_ADDRESS_POOL", config.address_pool)
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(argv or [sys.executable, "-m", "engine.daemon"],
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    env=child_env, start_new_session=True, close_fds=True,
                                    cwd="/")
        deadline = time.monotonic() + timeout
        delay = 0.005
        while time.monotonic() < deadline:
            if client.ping():
                return proc.pid
            code = proc.poll()
            if code is not None:
                raise EngineUnavailable(
                    f"the engine exited with code {code} while starting; see {log_path}")
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
        raise EngineUnavailable(
            f"the engine did not answer on unix://{config.socket_path} within {timeout:g} s; "
            f"see {log_path}")
    finally:
        lock.close()
        client.close()
