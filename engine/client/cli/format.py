"""Docker-like text output (pure): tables, relative times, sizes, ports, inspect templates."""
from __future__ import annotations

import json
import re
from collections.abc import Sequence

from engine.humanize import human_duration


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to the widest cell plus three spaces, as docker's tabwriter output."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for row in [list(headers), *rows]:
        cells = [cell.ljust(widths[i]) if i < len(row) - 1 else cell for i, cell in enumerate(row)]
        lines.append("   ".join(cells).rstrip())
    return "\n".join(lines)


def ago(timestamp: float, now: float) -> str:
    return f"{human_duration(max(0.0, now - timestamp))} ago"


def parse_time(text: str) -> float | None:
    """RFC 3339 (with nanoseconds, as Docker writes them) -> unix time; None for the zero time."""
    if not text or text.startswith("0001-01-01"):
        return None
    from datetime import datetime, timezone

    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$", text)
    if not m:
        return None
    base = datetime.fromisoformat(m.group(1) + (m.group(3) or "Z").replace("Z", "+00:00"))
    if base.tzinfo is None:
        base = base.replace(tzinfo=timezone.utc)
    return base.timestamp() + float("0" + (m.group(2) or ".0"))


def container_status(state: dict, now: float) -> str:
    """`Up 3 seconds`, `Up 2 minutes (Paused)`, `Exited (0) 2 seconds ago`, `Created`, ... from
    an inspect `State` object (docker's API computes the same text for `ps`)."""
    status = state.get("Status", "")
    started = parse_time(state.get("StartedAt", ""))
    finished = parse_time(state.get("FinishedAt", ""))
    if status in ("running", "paused") or state.get("Running"):
        text = f"Up {human_duration(now - started)}" if started else "Up"
        health = (state.get("Health") or {}).get("Status")
        if state.get("Paused") or status == "paused":
            text += " (Paused)"
        elif health and health != "none":
            text += f" ({'health: starting' if health == 'starting' else health})"
        return text
    if status == "restarting":
        return f"Restarting ({state.get('ExitCode', 0)}) {ago(finished, now) if finished else ''}".strip()
    if status == "removing":
        return "Removal In Progress"
    if status == "dead":
        return "Dead"
    if status == "created" or not finished:
        return "Created"
    return f"Exited ({state.get('ExitCode', 0)}) {ago(finished, now)}"


def human_size(size: float, binary: bool = False) -> str:
    """Decimal units with three significant digits, as `docker image ls` (`4.26MB`, `955kB`);
    `binary`: powers of 1024 with four, as `docker stats` (`1.953GiB`)."""
    base, digits = (1024, 4) if binary else (1000, 3)
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"] if binary else ["B", "kB", "MB", "GB", "TB", "PB"]
    i = 0
    while size >= base and i < len(units) - 1:
        size /= base
        i += 1
    return f"{size:.{digits}g}{units[i]}"


def short_id(ident: str) -> str:
    return ident.removeprefix("sha256:")[:12]


def command_text(command: str, width: int = 20) -> str:
    """The COMMAND column: quoted, cut to `width` characters with an ellipsis."""
    if len(command) > width:
        command = command[: width - 1] + "…"
    return f'"{command}"'


def ports_text(ports: Sequence[dict]) -> str:
    """`ps` PORTS column from /containers/json `Ports`: `0.0.0.0:8080->80/tcp, 443/tcp`."""
    parts = []
    for p in sorted(ports, key=lambda p: (p.get("PrivatePort", 0), p.get("Type", ""),
                                          p.get("IP", ""))):
        proto = p.get("Type", "tcp")
        if p.get("PublicPort"):
            ip = p.get("IP") or "0.0.0.0"
            ip = f"[{ip}]" if ":" in ip else ip
            parts.append(f"{ip}:{p['PublicPort']}->{p['PrivatePort']}/{proto}")
        else:
            parts.append(f"{p.get('PrivatePort')}/{proto}")
    return ", ".join(dict.fromkeys(parts))


def port_lines(ports: dict) -> list[str]:
    """`container port` lines from inspect's NetworkSettings.Ports."""
    lines = []
    for port, bindings in sorted(ports.items()):
        for b in bindings or []:
            ip = b.get("HostIp") or "0.0.0.0"
            ip = f"[{ip}]" if ":" in ip else ip
            lines.append(f"{port} -> {ip}:{b.get('HostPort')}")
    return lines


_FIELD = re.compile(r"\{\{\s*(json\s+)?\.([A-Za-z0-9_.]*)\s*\}\}")


def render_template(template: str, data: dict) -> str:
    """The subset of Go templates people use with `inspect -f`: `{{.State.Status}}`,
    `{{json .Config.Env}}`, `{{.}}`; anything else is a one-line error."""
    from engine.errors import BadParameter

    def value(m: re.Match[str]) -> str:
        node: object = data
        for key in filter(None, m.group(2).split(".")):
            if not isinstance(node, dict) or key not in node:
                raise BadParameter(f"template: {template!r}: no field {key!r}")
            node = node[key]
        if m.group(1):
            return json.dumps(node)
        if node is None:
            return "<no value>"
        if isinstance(node, bool):
            return "true" if node else "false"
        if isinstance(node, (dict, list)):
            return _go_print(node)
        return str(node)

    out = _FIELD.sub(value, template)
    if "{{" in out:
        raise BadParameter(f"template: {template!r}: only {{{{.Field}}}} and {{{{json .Field}}}} "
                           "are supported")
    return out.replace("\\n", "\n").replace("\\t", "\t")


def render_rows(template: str, rows: list[dict], headers: dict[str, str]) -> list[str]:
    """`--format` for listings: a template per row, or `table TEMPLATE` with a header line and
    tab-separated cells aligned as docker's tabwriter does."""
    if not template.startswith("table"):
        return [render_template(template, row) for row in rows]
    template = template[len("table"):].strip() or "{{.ID}}"
    header_row = {key: headers.get(key, key.upper()) for key in headers}
    fields = {m.group(2).split(".")[0] for m in _FIELD.finditer(template)}
    header_row.update({f: headers.get(f, f.upper()) for f in fields if f not in header_row})
    cells = [render_template(template, r).split("\t")
             for r in [header_row, *rows]]
    return table(cells[0], cells[1:]).splitlines()


def _go_print(node: object) -> str:
    if isinstance(node, dict):
        return "map[" + " ".join(f"{k}:{_go_print(v)}" for k, v in sorted(node.items())) + "]"
    if isinstance(node, list):
        return "[" + " ".join(_go_print(v) for v in node) + "]"
    if isinstance(node, bool):
        return "true" if node else "false"
    return "<nil>" if node is None else str(node)


def inspect_json(items: list) -> str:
    return json.dumps(items, indent=4)
