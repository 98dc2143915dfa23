"""`pycompose container ...`: docker-style container commands over the engine API."""
from __future__ import annotations

import inspect
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import List, Optional

import typer

from engine.client.cli.app import COMMAND_LINE_SETTINGS, COMMAND_SETTINGS, Commands, get_client, make_app, print_inspected
from engine.client.cli import format as fmt
from engine.client.cli import prune as pruning
from engine.errors import EngineError, NotFound, PycomposeError

commands = Commands()
app = make_app("Manage containers.", commands)

# -- create / run -------------------------------------------------------------------------------

# (parameter, annotation, typer default) shared by create and run, in docker's flag names.
_O, _A = typer.Option, typer.Argument
_CREATE_FLAGS: list[tuple[str, object, object]] = [
    ("name", Optional[str], _O(None, "--name", help="Container name.")),
    ("rm", bool, _O(False, "--rm", help="Remove the container when it exits.")),
    ("interactive", bool, _O(False, "-i", "--interactive", help="Keep stdin open.")),
    ("tty", bool, _O(False, "-t", "--tty", help="Allocate a pseudo-terminal.")),
    ("env", Optional[List[str]], _O(None, "-e", "--env", help="Set K=V (or pass K through).")),
    ("env_file", Optional[List[str]], _O(None, "--env-file", help="Read variables from a file.")),
    ("workdir", Optional[str], _O(None, "-w", "--workdir", help="Working directory inside.")),
    ("user", Optional[str], _O(None, "-u", "--user", help="USER[:GROUP] or UID[:GID].")),
    ("hostname", Optional[str], _O(None, "-h", "--hostname", help="Container host name.")),
    ("entrypoint", Optional[str], _O(None, "--entrypoint", help="Override the entrypoint.")),
    ("label", Optional[List[str]], _O(None, "-l", "--label", help="Set a label K=V.")),
    ("volume", Optional[List[str]], _O(None, "-v", "--volume", help="Bind or volume mount.")),
    ("tmpfs", Optional[List[str]], _O(None, "--tmpfs", help="Mount a tmpfs PATH[:OPTS].")),
    ("read_only", bool, _O(False, "--read-only", help="Read-only root filesystem.")),
    ("memory", Optional[str], _O(None, "-m", "--memory", help="Memory limit (e.g. 64m).")),
    ("memory_swap", Optional[str], _O(None, "--memory-swap", help="Memory + swap, -1 = any.")),
    ("cpus", Optional[str], _O(None, "--cpus", help="Number of CPUs (e.g. 0.5).")),
    ("pids_limit", Optional[str], _O(None, "--pids-limit", help="Maximum processes.")),
    ("cpuset_cpus", Optional[str], _O(None, "--cpuset-cpus", help="CPUs to run on (0-2,5).")),
    ("cpuset_mems", Optional[str], _O(None, "--cpuset-mems", help="Memory nodes (0,1).")),
    ("pid", Optional[str], _O(None, "--pid", help="PID namespace: host|container:NAME.")),
    ("ipc", Optional[str], _O(None, "--ipc", help="IPC: host|none|shareable|container:NAME.")),
    ("uts", Optional[str], _O(None, "--uts", help="UTS namespace: host.")),
    ("init", bool, _O(False, "--init", help="Run an init as PID 1.")),
    ("restart", Optional[str], _O(None, "--restart", help="no|always|unless-stopped|on-failure[:N]")),
    ("stop_signal", Optional[str], _O(None, "--stop-signal", help="Signal to stop with.")),
    ("stop_timeout", Optional[str], _O(None, "--stop-timeout", help="Seconds before SIGKILL.")),
    ("network", Optional[str], _O(None, "--network", "--net", help="Network to connect to.")),
    ("network_alias", Optional[List[str]], _O(None, "--network-alias", help="DNS alias.")),
    ("ip", Optional[str], _O(None, "--ip", help="IPv4 address on the network.")),
    ("mac_address", Optional[str], _O(None, "--mac-address", help="MAC address of eth0.")),
    ("link", Optional[List[str]], _O(None, "--link", help="NAME[:ALIAS] of another container.")),
    ("publish", Optional[List[str]], _O(None, "-p", "--publish", help="Publish a port.")),
    ("publish_all", bool, _O(False, "-P", "--publish-all", help="Publish exposed ports.")),
    ("expose", Optional[List[str]], _O(None, "--expose", help="Expose a port.")),
    ("dns", Optional[List[str]], _O(None, "--dns", help="DNS server.")),
    ("add_host", Optional[List[str]], _O(None, "--add-host", help="HOST:IP in /etc/hosts.")),
    ("cap_add", Optional[List[str]], _O(None, "--cap-add", help="Add a capability.")),
    ("cap_drop", Optional[List[str]], _O(None, "--cap-drop", help="Drop a capability.")),
    ("security_opt", Optional[List[str]], _O(None, "--security-opt",
                                              help="seccomp=FILE|unconfined, no-new-privileges.")),
    ("privileged", bool, _O(False, "--privileged", help="All capabilities, no seccomp filter.")),
]
_POSITIONALS: list[tuple[str, object, object]] = [
    ("image", str, _A(..., help="Image to run.")),
    ("command", Optional[List[str]], _A(None, help="Command and its arguments.")),
]
_CREATE_FLAGS.append(("pull", str, _O("missing", "--pull", help="missing|always|never")))
_RUN_ONLY: list[tuple[str, object, object]] = [
    ("detach", bool, _O(False, "-d", "--detach", help="Run in the background, print the id.")),
]
# `-h` is --hostname for create/run, as in docker
_CREATE_SETTINGS = {**COMMAND_LINE_SETTINGS, "help_option_names": ["--help"]}


def _with_params(params: list[tuple[str, object, object]]):
    """Give `fn(**kw)` an explicit signature, so typer sees the shared flag table."""
    def decorate(fn):
        fn.__signature__ = inspect.Signature([
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                              annotation=annotation) for name, annotation, default in params])
        fn.__annotations__ = {name: annotation for name, annotation, _ in params}
        return fn
    return decorate


def _flags(kw: dict, detach: bool):
    from engine.client.cli.container_config import ContainerFlags

    t = lambda key: tuple(kw.get(key) or ())  # noqa: E731
    return ContainerFlags(
        image=kw["image"], command=t("command"), name=kw["name"], rm=kw["rm"],
        interactive=kw["interactive"], tty=kw["tty"], attach_stdio=not detach, env=t("env"),
        env_file=t("env_file"), workdir=kw["workdir"], user=kw["user"], hostname=kw["hostname"],
        entrypoint=kw["entrypoint"], labels=t("label"), volumes=t("volume"), tmpfs=t("tmpfs"),
        read_only=kw["read_only"], memory=kw["memory"], memory_swap=kw["memory_swap"],
        cpus=kw["cpus"], pids_limit=kw["pids_limit"], init=kw["init"], restart=kw["restart"],
        stop_signal=kw["stop_signal"], stop_timeout=kw["stop_timeout"], network=kw["network"],
        network_aliases=t("network_alias"), ip=kw["ip"], mac_address=kw["mac_address"],
        links=t("link"), publish=t("publish"),
        publish_all=kw["publish_all"], expose=t("expose"), dns=t("dns"),
        add_hosts=t("add_host"), cap_add=t("cap_add"), cap_drop=t("cap_drop"),
        security_opt=t("security_opt"), privileged=kw["privileged"], pid=kw["pid"],
        ipc=kw["ipc"], uts=kw["uts"], cpuset_cpus=kw["cpuset_cpus"],
        cpuset_mems=kw["cpuset_mems"])


def _body(flags) -> dict:
    from engine.client.cli.container_config import create_body

    def read_file(path: str) -> str:
        with open(path, encoding="utf-8") as f:
            return f.read()

    body = create_body(flags, os.environ, os.getcwd(), read_file)
    if flags.tty:
        from engine.client.cli.stdio import terminal_size

        size = terminal_size()
        if size:  # the pty has our size before the command starts (docker's ConsoleSize)
            body["HostConfig"]["ConsoleSize"] = list(size)
    return body


def _create(client, body: dict, name: str | None, pull: str = "never") -> str:
    """Create the container; pull its image first (`always`) or when it is missing (`missing`),
    telling the user on stderr as docker does."""
    image = body["Image"]
    if pull == "always":
        _pull(client, image)
    try:
        created = client.create_container(body, name=name)
    except NotFound as e:
        if pull != "missing" or "image" not in e.message.lower():
            raise
        print(f"Unable to find image '{image}' locally", file=sys.stderr)
        _pull(client, image)
        created = client.create_container(body, name=name)
    for warning in created.get("Warnings") or ():
        print(f"WARNING: {warning}", file=sys.stderr)
    return created["Id"]


@commands.command("create", context_settings=_CREATE_SETTINGS)
@_with_params(_CREATE_FLAGS + _POSITIONALS)
def create(**kw) -> None:
    """Create a container (without starting it); prints its id."""
    flags = _flags(kw, detach=True)
    body, pull = _body(flags), _pull_policy(kw["pull"])
    with _engine_errors_exit_125():
        print(_create(get_client(), body, flags.name, pull))


@commands.command("run", context_settings=_CREATE_SETTINGS)
@_with_params(_RUN_ONLY + _CREATE_FLAGS + _POSITIONALS)
def run(**kw) -> int:
    """Create and start a container; without -d, stream its output and exit with its code."""
    detach = kw["detach"]
    flags = _flags(kw, detach=detach)
    body, pull = _body(flags), _pull_policy(kw["pull"])
    if not detach and flags.rm:
        # attached, the CLI removes it after reading the exit code: an engine-side auto-remove
        # would race our wait for that code
        body["HostConfig"]["AutoRemove"] = False
    with _engine_errors_exit_125():
        client = get_client()
        cid = _create(client, body, flags.name, pull)
        if detach:
            _start_or_exit_code(client, cid, flags.rm)  # a failed start leaves nothing either
            print(cid)
            return 0
        code = _run_attached(client, cid, flags.tty, flags.interactive, flags.rm)
    raise typer.Exit(code)


@contextmanager
def _engine_errors_exit_125() -> Iterator[None]:
    """docker run/create exit 125 for every failure of the engine or the CLI itself."""
    try:
        yield
    except PycomposeError as e:
        if e.exit_code == 1:
            e.exit_code = 125
        raise


def start_error_code(message: str) -> int:
    """Docker's exit codes for a failed start: 127 command not found, 126 not executable,
    125 anything else."""
    text = message.lower()
    if "not found" in text or "no such file" in text:
        return 127
    if "permission denied" in text or "not executable" in text or "exec format" in text:
        return 126
    return 125


def _start_or_exit_code(client, cid: str, remove: bool) -> None:
    try:
        client.start(cid)
    except EngineError as e:
        if remove:
            _remove_quietly(client, cid)
        code = e.exit_code if e.exit_code in (126, 127) else start_error_code(e.message)
        if isinstance(e, NotFound) and "container" in e.message.lower():
            code = 125
        err = EngineError(e.message)
        err.exit_code = code
        raise err from None


def _remove_quietly(client, cid: str) -> None:
    try:  # --rm: its anonymous volumes go with it, as with the engine's AutoRemove
        client.remove_container(cid, force=True, volumes=True)
    except (NotFound, EngineError):
        pass  # already removed (auto-remove) or going away


def _run_attached(client, cid: str, tty: bool, interactive: bool, remove: bool) -> int:
    from engine.client.cli import stdio
    from engine.client import Client

    side = Client(client.socket_path)  # resize/kill from signal handlers use their own socket
    hijacked = client.attach(cid, stdin=interactive, tty=tty)
    try:
        _start_or_exit_code(client, cid, remove)
        proxied = () if tty else (2, 15)  # SIGINT, SIGTERM; with a tty Ctrl-C is a keystroke
        with stdio.raw_terminal(0, tty and interactive), \
                stdio.follow_window_size(lambda h, w: side.resize(cid, h, w), tty), \
                stdio.proxy_signals(lambda sig: side.kill(cid, sig), proxied):
            stdio.relay(hijacked, stdin=interactive)
        code = int(client.wait(cid).get("StatusCode", 0))
    finally:
        hijacked.close()
        side.close()
        if remove:
            _remove_quietly(client, cid)
    return code


def _pull(client, image: str) -> None:
    for message in client.pull_image(image):
        if message.get("status"):
            print(message["status"], file=sys.stderr)


def _pull_policy(value: str) -> str:
    from engine.client.cli.parse import FlagError

    if value not in ("missing", "always", "never"):
        raise FlagError("--pull", value, "expected missing, always or never")
    return value


# -- lifecycle ------------------------------------------------------------------------------------

Names = typer.Argument(..., help="Container names or ids.")


def _each(names: list[str], action) -> int:
    """Apply `action` to each container, printing its name; report failures, exit 1 if any."""
    failed = False
    for name in names:
        try:
            action(name)
            print(name)
        except PycomposeError as e:
            print(f"Error: {e.message}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


@commands.command("start", context_settings=COMMAND_SETTINGS)
def start(names: List[str] = Names,
          attach: bool = typer.Option(False, "-a", "--attach", help="Attach stdout/stderr."),
          interactive: bool = typer.Option(False, "-i", "--interactive", help="Attach stdin.")) -> None:
    """Start stopped containers."""
    client = get_client()
    if not (attach or interactive):
        raise typer.Exit(_each(names, client.start))
    if len(names) > 1:
        raise PycomposeError("you cannot start and attach multiple containers at once")
    info = client.inspect_container(names[0])
    tty = bool(info["Config"].get("Tty"))
    raise typer.Exit(_run_attached(client, info["Id"], tty, interactive, remove=False))


@commands.command("stop", context_settings=COMMAND_SETTINGS)
def stop(names: List[str] = Names,
         time_: Optional[int] = typer.Option(None, "-t", "--time", "--timeout",
                                             help="Seconds to wait before killing.")) -> None:
    """Stop running containers (stop signal, then SIGKILL after the timeout)."""
    client = get_client()
    raise typer.Exit(_each(names, lambda n: client.stop(n, time_)))


@commands.command("restart", context_settings=COMMAND_SETTINGS)
def restart(names: List[str] = Names,
            time_: Optional[int] = typer.Option(None, "-t", "--time", "--timeout",
                                                help="Seconds to wait before killing.")) -> None:
    """Restart containers."""
    client = get_client()
    raise typer.Exit(_each(names, lambda n: client.restart(n, time_)))


@commands.command("kill", context_settings=COMMAND_SETTINGS)
def kill(names: List[str] = Names,
         signal_: str = typer.Option("KILL", "-s", "--signal", help="Signal to send.")) -> None:
    """Send a signal (default SIGKILL) to running containers."""
    from engine.client.cli.parse import parse_signal

    sig = parse_signal(signal_)
    client = get_client()
    raise typer.Exit(_each(names, lambda n: client.kill(n, sig)))


@commands.command("pause", context_settings=COMMAND_SETTINGS)
def pause(names: List[str] = Names) -> None:
    """Freeze all processes of containers."""
    client = get_client()
    raise typer.Exit(_each(names, client.pause))


@commands.command("unpause", context_settings=COMMAND_SETTINGS)
def unpause(names: List[str] = Names) -> None:
    """Thaw paused containers."""
    client = get_client()
    raise typer.Exit(_each(names, client.unpause))


@commands.command("rm", context_settings=COMMAND_SETTINGS)
def rm(names: List[str] = Names,
       force: bool = typer.Option(False, "-f", "--force", help="Kill it first if running."),
       volumes: bool = typer.Option(False, "-v", "--volumes", help="Remove anonymous volumes.")) -> None:
    """Remove containers."""
    client = get_client()
    raise typer.Exit(_each(names, lambda n: client.remove_container(n, force, volumes)))


@commands.command("wait", context_settings=COMMAND_SETTINGS)
def wait(names: List[str] = Names) -> None:
    """Block until containers stop; print their exit codes."""
    client = get_client()
    failed = False
    for name in names:
        try:
            print(client.wait(name).get("StatusCode"))
        except PycomposeError as e:
            print(f"Error: {e.message}", file=sys.stderr)
            failed = True
    raise typer.Exit(1 if failed else 0)


# -- information ----------------------------------------------------------------------------------

_PS_HEADERS = ("CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES")
_PS_FIELD_HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND",
                     "CreatedAt": "CREATED AT", "RunningFor": "CREATED", "Ports": "PORTS",
                     "State": "STATE", "Status": "STATUS", "Names": "NAMES", "Labels": "LABELS",
                     "Mounts": "MOUNTS", "Networks": "NETWORKS", "Size": "SIZE",
                     "LocalVolumes": "LOCAL VOLUMES"}


def ps_fields(c: dict, now: float, no_trunc: bool = False) -> dict:
    """Docker's `ps --format` fields for one /containers/json item."""
    status = c.get("Status") or fmt.container_status({"Status": c.get("State", "")}, now)
    names = ",".join(n.lstrip("/") for n in c.get("Names") or ())
    created = c.get("Created", 0)
    labels = c.get("Labels") or {}
    return {
        "ID": c["Id"] if no_trunc else c["Id"][:12],
        "Image": c.get("Image", ""),
        "Command": f'"{c.get("Command", "")}"' if no_trunc else fmt.command_text(
            c.get("Command", "")),
        "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S %z %Z", time.localtime(created)),
        "RunningFor": fmt.ago(created, now),
        "Ports": fmt.ports_text(c.get("Ports") or ()),
        "State": c.get("State", ""),
        "Status": status,
        "Names": names,
        "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        "Mounts": ",".join(m.get("Name") or m.get("Source", "") for m in c.get("Mounts") or ()),
        "Networks": ",".join(sorted(((c.get("NetworkSettings") or {}).get("Networks") or {}))),
        "Size": "",
        "LocalVolumes": str(sum(1 for m in c.get("Mounts") or () if m.get("Type") == "volume")),
    }


@commands.command("ps", context_settings=COMMAND_SETTINGS)
def ps(all_: bool = typer.Option(False, "-a", "--all", help="Show stopped containers too."),
       quiet: bool = typer.Option(False, "-q", "--quiet", help="Only ids."),
       filter_: Optional[List[str]] = typer.Option(None, "-f", "--filter", help="KEY=VALUE."),
       format_: Optional[str] = typer.Option(None, "--format", help="table, json or a template."),
       no_trunc: bool = typer.Option(False, "--no-trunc", help="Full ids and commands.")) -> None:
    """List containers."""
    import json

    from engine.client.cli.parse import parse_filters

    filters = parse_filters(list(filter_ or ()))
    client = get_client()
    containers = client.containers(all=all_, filters=filters or None)
    now = time.time()
    if quiet:
        for c in containers:
            print(c["Id"] if no_trunc else c["Id"][:12])
        return
    rows = [ps_fields(c, now, no_trunc) for c in containers]
    if format_ == "json":
        for row in rows:
            print(json.dumps(row, separators=(",", ":")))
    elif format_ and format_ != "table":
        for line in fmt.render_rows(format_, rows, _PS_FIELD_HEADERS):
            print(line)
    else:
        keys = ("ID", "Image", "Command", "RunningFor", "Status", "Ports", "Names")
        print(fmt.table(_PS_HEADERS, [[row[k] for k in keys] for row in rows]))


commands.command("ls", context_settings=COMMAND_SETTINGS)(ps)  # docker's alias


@commands.command("rename", context_settings=COMMAND_SETTINGS)
def rename(old: str = typer.Argument(..., help="Container name or id."),
           new: str = typer.Argument(..., help="New name.")) -> None:
    """Rename a container."""
    get_client().rename(old, new)


@commands.command("prune", context_settings=COMMAND_SETTINGS)
def prune(force: bool = typer.Option(False, "-f", "--force", help="Do not ask.")) -> None:
    """Remove all stopped containers."""
    if not pruning.confirmed("container", "all stopped containers", force):
        return
    result = get_client().prune_containers() or {}
    pruning.report("Containers", result.get("ContainersDeleted") or [],
                   result.get("SpaceReclaimed", 0))


@commands.command("inspect", context_settings=COMMAND_SETTINGS)
def inspect_(names: List[str] = Names,
             format_: Optional[str] = typer.Option(None, "-f", "--format", help="Template.")) -> None:
    """Show low-level information on containers (JSON)."""
    print_inspected(names, get_client().inspect_container, format_)


@commands.command("logs", context_settings=COMMAND_SETTINGS)
def logs(name: str = typer.Argument(..., help="Container name or id."),
         follow: bool = typer.Option(False, "-f", "--follow", help="Keep streaming."),
         tail: str = typer.Option("all", "-n", "--tail", help="Lines from the end (or all)."),
         timestamps: bool = typer.Option(False, "-t", "--timestamps", help="Show timestamps."),
         since: Optional[str] = typer.Option(None, "--since", help="Timestamp or duration."),
         until: Optional[str] = typer.Option(None, "--until", help="Timestamp or duration.")) -> None:
    """Print a container's logs."""
    from engine.client.cli import parse, stdio

    if tail != "all":
        parse.parse_int(tail, "--tail", 0)
    now = time.time()
    since_ts = parse.parse_since(since, now) if since else None
    until_ts = parse.parse_since(until, now, "--until") if until else None
    client = get_client()
    try:
        for stream, data in client.logs(name, follow=follow, tail=tail, timestamps=timestamps,
                                        since=since_ts, until=until_ts):
            stdio.write_stream(stream, data)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


@commands.command("attach", context_settings=COMMAND_SETTINGS)
def attach(name: str = typer.Argument(..., help="Container name or id."),
           no_stdin: bool = typer.Option(False, "--no-stdin", help="Do not attach stdin.")) -> None:
    """Attach the local terminal to a running container's stdio."""
    from engine.client.cli import stdio
    from engine.client import Client

    client = get_client()
    info = client.inspect_container(name)
    cid, config = info["Id"], info.get("Config", {})
    if not (info.get("State") or {}).get("Running"):
        raise PycomposeError("You cannot attach to a stopped container, start it first")
    tty = bool(config.get("Tty"))
    with_stdin = bool(config.get("OpenStdin")) and not no_stdin
    side = Client(client.socket_path)
    hijacked = client.attach(cid, stdin=with_stdin, tty=tty)
    try:
        with stdio.raw_terminal(0, tty and with_stdin), \
                stdio.follow_window_size(lambda h, w: side.resize(cid, h, w), tty), \
                stdio.proxy_signals(lambda sig: side.kill(cid, sig), () if tty else (2, 15)):
            stdio.relay(hijacked, stdin=with_stdin)
    finally:
        hijacked.close()
        side.close()
    state = client.inspect_container(cid).get("State") or {}
    raise typer.Exit(0 if state.get("Running") else int(state.get("ExitCode", 0)))


@commands.command("exec", context_settings=COMMAND_LINE_SETTINGS)
def exec_(name: str = typer.Argument(..., help="Container name or id."),
          command: List[str] = typer.Argument(..., help="Command and its arguments."),
          detach: bool = typer.Option(False, "-d", "--detach", help="Run in the background."),
          interactive: bool = typer.Option(False, "-i", "--interactive", help="Keep stdin open."),
          tty: bool = typer.Option(False, "-t", "--tty", help="Allocate a pseudo-terminal."),
          env: Optional[List[str]] = typer.Option(None, "-e", "--env", help="Set K=V."),
          user: Optional[str] = typer.Option(None, "-u", "--user", help="USER[:GROUP]."),
          workdir: Optional[str] = typer.Option(None, "-w", "--workdir", help="Directory."),
          privileged: bool = typer.Option(False, "--privileged",
                                          help="Every capability for the command.")) -> None:
    """Run a command in a running container."""
    from engine.client.cli import parse, stdio
    from engine.client import Client

    environment = parse.parse_env(list(env or ()), os.environ.get)
    client = get_client()
    try:
        exec_id = client.exec_create(name, list(command), stdin=interactive and not detach,
                                     stdout=not detach, stderr=not detach, tty=tty,
                                     env=environment, user=user, workdir=workdir,
                                     privileged=privileged)
    except EngineError as e:
        raise PycomposeError(e.message) from None  # docker: exit 1 for "not running" and co.
    if detach:
        client.exec_start_detached(exec_id)
        return
    side = Client(client.socket_path)
    try:
        hijacked = client.exec_start(exec_id, tty=tty,
                                     console_size=stdio.terminal_size() if tty else None)
    except EngineError as e:
        err = EngineError(e.message)
        err.exit_code = start_error_code(e.message)
        raise err from None
    try:
        with stdio.raw_terminal(0, tty and interactive), \
                stdio.follow_window_size(lambda h, w: side.exec_resize(exec_id, h, w), tty):
            stdio.relay(hijacked, stdin=interactive)
    finally:
        hijacked.close()
        side.close()
    result = client.exec_inspect(exec_id)
    code = result.get("ExitCode")
    raise typer.Exit(int(code) if code is not None else 0)


@commands.command("top", context_settings=COMMAND_LINE_SETTINGS)
def top(name: str = typer.Argument(..., help="Container name or id."),
        ps_args: Optional[List[str]] = typer.Argument(None, help="ps options.")) -> None:
    """Show the processes of a running container."""
    client = get_client()
    result = client.top(name, " ".join(ps_args) if ps_args else None)
    print(fmt.table(result.get("Titles") or [], result.get("Processes") or []))


@commands.command("port", context_settings=COMMAND_SETTINGS)
def port(name: str = typer.Argument(..., help="Container name or id."),
         private: Optional[str] = typer.Argument(None, help="PORT[/PROTO] to show.")) -> None:
    """List a container's published ports."""
    client = get_client()
    ports = client.port(name)
    if private:
        key = private if "/" in private else f"{private}/tcp"
        if not ports.get(key):
            raise PycomposeError(f"No public port '{key}' published for {name}")
        ports = {key: ports[key]}
    for line in fmt.port_lines(ports):
        print(line.split(" -> ", 1)[1] if private else line)

# cp, diff, commit, export, update, stats live in their own module (this one is near its size cap)
from engine.client.cli import container_files  # noqa: E402,F401  (registers its commands above)
from engine.client.cli import explain  # noqa: E402,F401  (registers `container explain`)
