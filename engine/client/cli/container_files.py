"""`pycompose container cp|diff|commit|export|update|stats`: looking inside containers and moving
files, over the engine API (registered into `engine.client.cli.container`'s command table)."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Iterator, List, Optional
from urllib.parse import quote

import typer

from engine.client.cli.app import COMMAND_SETTINGS, get_client
from engine.client.cli.container import Names, _each, commands
from engine.errors import EngineError, PycomposeError

KIND_LETTER = {0: "C", 1: "A", 2: "D"}


def _path(ref: str, what: str) -> str:
    return f"/containers/{quote(ref, safe='')}/{what}"


def _json(client: Any, method: str, path: str, params: dict | None = None,
          body: Any = None) -> Any:
    data = client.request(method, path, params, json_body=body).read()
    return json.loads(data) if data.strip() else None


def diff_lines(changes: list[dict] | None) -> list[str]:
    return [f"{KIND_LETTER.get(c['Kind'], '?')} {c['Path']}" for c in changes or []]


@commands.command("cp", context_settings=COMMAND_SETTINGS)
def cp(src: str = typer.Argument(..., help="CONTAINER:SRC_PATH or a local path ('-': a tar "
                                            "on stdin)."),
       dest: str = typer.Argument(..., help="CONTAINER:DEST_PATH or a local path ('-': a tar "
                                             "on stdout)."),
       follow_link: bool = typer.Option(False, "-L", "--follow-link",
                                        help="Follow a symlink given as the source."),
       archive: bool = typer.Option(False, "-a", "--archive",
                                    help="Keep uid/gid (owned by the container's user).")
       ) -> None:
    """Copy files between a container and the local file system."""
    from engine.client.cli import copy

    copy.copy(get_client(), copy.parse_endpoint(src), copy.parse_endpoint(dest),
              follow=follow_link, archive=archive)


@commands.command("diff", context_settings=COMMAND_SETTINGS)
def diff(name: str = typer.Argument(..., help="Container name or id.")) -> None:
    """List what a container changed in its file system (A added, C changed, D deleted)."""
    for line in diff_lines(_json(get_client(), "GET", _path(name, "changes"))):
        print(line)


@commands.command("commit", context_settings=COMMAND_SETTINGS)
def commit(name: str = typer.Argument(..., help="Container name or id."),
           repository: Optional[str] = typer.Argument(None, help="REPOSITORY[:TAG]"),
           author: str = typer.Option("", "-a", "--author", help="Author of the image."),
           message: str = typer.Option("", "-m", "--message", help="Commit message."),
           change: Optional[List[str]] = typer.Option(None, "-c", "--change",
                                                      help="A Dockerfile instruction."),
           pause: bool = typer.Option(True, "-p/--pause", help="Freeze it while committing.")
           ) -> None:
    """Create a new image from a container's changes."""
    from engine.images import reference

    repo = tag = None
    if repository:
        parsed = reference.parse(repository)
        repo, tag = parsed.familiar_name(), parsed.tag
    params = {"container": name, "repo": repo, "tag": tag, "author": author or None,
              "comment": message or None, "pause": "1" if pause else "0",
              "changes": list(change or []) or None}
    print(_json(get_client(), "POST", "/commit", params, {})["Id"])


@commands.command("export", context_settings=COMMAND_SETTINGS)
def export(name: str = typer.Argument(..., help="Container name or id."),
           output: Optional[str] = typer.Option(None, "-o", "--output",
                                                help="Write to a file instead of stdout.")
           ) -> None:
    """Write a container's file system as a tar archive."""
    if output is None and sys.stdout.isatty():
        raise PycomposeError("cowardly refusing to write a tar archive to a terminal: use -o "
                             "or redirect stdout")
    resp = get_client().request("GET", _path(name, "export"))
    out = open(output, "wb") if output else sys.stdout.buffer
    try:
        for chunk in resp.iter_chunks():
            out.write(chunk)
    finally:
        if output:
            out.close()
        else:
            out.flush()


def update_body(memory: str | None, memory_swap: str | None, cpus: str | None,
                cpu_shares: str | None, pids_limit: str | None, restart: str | None) -> dict:
    """The /update body from docker-style flags (pure)."""
    from engine.client.cli import parse

    body: dict[str, Any] = {}
    if memory:
        body["Memory"] = parse.parse_memory(memory)
    if memory_swap:
        body["MemorySwap"] = parse.parse_memory_swap(memory_swap)
    if cpus:
        body["NanoCpus"] = parse.parse_cpus(cpus)
    if cpu_shares:
        body["CpuShares"] = parse.parse_int(cpu_shares, "--cpu-shares", 0)
    if pids_limit:
        body["PidsLimit"] = parse.parse_int(pids_limit, "--pids-limit")
    if restart:
        body["RestartPolicy"] = parse.parse_restart(restart)
    if not body:
        raise PycomposeError("update: give at least one flag to change")
    return body


@commands.command("update", context_settings=COMMAND_SETTINGS)
def update(names: List[str] = Names,
           memory: Optional[str] = typer.Option(None, "-m", "--memory", help="Memory limit."),
           memory_swap: Optional[str] = typer.Option(None, "--memory-swap",
                                                     help="Memory + swap, -1 = any."),
           cpus: Optional[str] = typer.Option(None, "--cpus", help="Number of CPUs."),
           cpu_shares: Optional[str] = typer.Option(None, "-c", "--cpu-shares",
                                                    help="Relative CPU weight."),
           pids_limit: Optional[str] = typer.Option(None, "--pids-limit",
                                                    help="Maximum processes (-1: none)."),
           restart: Optional[str] = typer.Option(None, "--restart",
                                                 help="no|always|unless-stopped|on-failure[:N]")
           ) -> None:
    """Change the resource limits or restart policy of containers (live when running)."""
    body = update_body(memory, memory_swap, cpus, cpu_shares, pids_limit, restart)
    client = get_client()
    raise typer.Exit(_each(names, lambda n: _json(client, "POST", _path(n, "update"), None,
                                                  body)))


# -- stats -------------------------------------------------------------------------------------

def _samples(client: Any, ref: str) -> Iterator[dict]:
    resp = client.request("GET", _path(ref, "stats"), {"stream": "1"})
    try:
        for line in resp.iter_lines():
            if line.strip():
                yield json.loads(line)
    finally:
        resp.close()


def stats_rows(client: Any, names: list[str], host_memory: int, samples: int = 2) -> list[dict]:
    """One row per container from its `samples`-th document (the first has no CPU delta)."""
    from engine.client.cli.stats_view import stats_row

    rows = []
    for name in names:
        doc: dict = {}
        it = _samples(client, name)
        try:
            for i, doc in enumerate(it):
                if i + 1 >= samples:
                    break
        finally:
            it.close()  # type: ignore[attr-defined]
        rows.append(stats_row(doc, host_memory, name))
    return rows


def render_stats(rows: list[dict], template: str | None) -> list[str]:
    from engine.client.cli import format as fmt
    from engine.client.cli.stats_view import HEADERS, TABLE

    if template == "json":
        return [json.dumps(r) for r in rows]
    return fmt.render_rows(template or TABLE, rows, HEADERS)


@commands.command("stats", context_settings=COMMAND_SETTINGS)
def stats(names: Optional[List[str]] = typer.Argument(None, help="Containers (default: all "
                                                                  "running)."),
          all_: bool = typer.Option(False, "-a", "--all", help="Stopped containers too."),
          no_stream: bool = typer.Option(False, "--no-stream", help="One sample, then exit."),
          format_: Optional[str] = typer.Option(None, "--format",
                                                help="json, or a Go template ('table ...').")
          ) -> None:
    """Show containers' resource use (a live table until Ctrl-C)."""
    from engine.client.cli.stats_view import host_memory

    client = get_client()
    memory = host_memory(Path("/proc/meminfo").read_text())
    targets = list(names or [c["Id"][:12] for c in client.containers(all=all_)])
    try:
        while True:
            try:
                rows = stats_rows(client, targets, memory)
            except EngineError as e:
                raise PycomposeError(e.message) from None
            lines = render_stats(rows, format_)
            if no_stream:
                print("\n".join(lines))
                return
            sys.stdout.write("\x1b[2J\x1b[H" + "\n".join(lines) + "\n")
            sys.stdout.flush()
            time.sleep(0.1)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
