"""`pycompose engine serve|status|stop`: run, query and stop the engine daemon."""
from __future__ import annotations

import os
import sys
import time

import typer

from engine.client.cli.app import COMMAND_SETTINGS, Commands, make_app
from engine.errors import EngineUnavailable
from engine.pids import pid_running

commands = Commands()
app = make_app("Run and control the engine daemon.", commands)


@commands.command("serve", context_settings=COMMAND_SETTINGS)
def serve() -> None:
    """Run the engine in the foreground (for service managers and tests)."""
    from engine.config import EngineConfig

    EngineConfig.from_env(os.environ)  # a bad PYCOMPOSE_HOST is reported here, not by the daemon
    sys.stdout.flush()
    sys.stderr.flush()
    # exec, not import: the daemon forks its zygote from a fresh, small, single-threaded process
    os.execv(sys.executable, [sys.executable, "-m", "engine.daemon"])


@commands.command("status", context_settings=COMMAND_SETTINGS)
def status() -> None:
    """Is the engine up? Prints its version, state root, socket and pid; exit 1 if down."""
    from engine.client import Client
    from engine.config import EngineConfig

    config = EngineConfig.from_env(os.environ)
    client = Client(config.socket_path, timeout=5.0)
    if not client.ping():
        print(f"engine: down (no answer on unix://{config.socket_path})")
        print(f"root:   {config.root}")
        raise typer.Exit(1)
    version = client.version() or {}
    print("engine: running")
    print(f"version: {version.get('Version', '?')} (API {version.get('ApiVersion', '?')})")
    print(f"root:   {config.root}")
    print(f"socket: unix://{config.socket_path}")
    print(f"pid:    {client.daemon_pid() or '?'}")
    client.close()


@commands.command("stop", context_settings=COMMAND_SETTINGS)
def stop(timeout: float = typer.Option(60.0, "-t", "--timeout",
                                       help="Seconds to wait for a graceful exit.")) -> None:
    """Stop the engine gracefully (it stops its containers first) and wait until it has exited."""
    import signal

    from engine.client import Client
    from engine.config import EngineConfig
    from engine.errors import PycomposeError

    config = EngineConfig.from_env(os.environ)
    client = Client(config.socket_path, timeout=10.0)
    pid = client.daemon_pid()  # the process serving the socket, from the kernel
    if pid is None:
        print(f"engine: not running (unix://{config.socket_path})")
        return
    try:
        client.shutdown()
    except PycomposeError:
        os.kill(pid, signal.SIGTERM)  # an engine without /pycompose/shutdown
    finally:
        client.close()
    deadline = time.monotonic() + timeout
    while pid_running(pid):
        if time.monotonic() > deadline:
            raise EngineUnavailable(f"the engine (pid {pid}) did not stop within {timeout:g} s; "
                                    f"see {config.root / 'engine.log'}")
        time.sleep(0.02)
    print(f"engine: stopped (pid {pid})")

