"""Tables and JSON for `ps`, `images`, `ls`, `top`, `port` from engine data. Pure."""
from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence

from compose.orchestrator import labels as L


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    rows = [list(map(str, r)) for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    lines = ["   ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines += ["   ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def ports_text(ports: Iterable[Mapping]) -> str:
    """Docker's summary Ports list as `127.0.0.1:8080->80/tcp, 53/udp`."""
    out = []
    for p in ports or []:
        private = f"{p.get('PrivatePort')}/{p.get('Type', 'tcp')}"
        if p.get("PublicPort"):
            out.append(f"{p.get('IP') or '0.0.0.0'}:{p['PublicPort']}->{private}")
        else:
            out.append(private)
    return ", ".join(dict.fromkeys(out))


def _command(item: Mapping, trunc: bool = True) -> str:
    cmd = item.get("Command") or ""
    return f'"{cmd[:20] + "…" if trunc and len(cmd) > 20 else cmd}"'


def created_ago(created: int | float, now: float | None = None) -> str:
    secs = max(0, int((now or time.time()) - (created or 0)))
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if secs >= size:
            n = secs // size
            return f"{n} {unit if n > 1 else unit[:-1]} ago"
    return f"{secs} seconds ago"


def ps_rows(items: Iterable[Mapping], now: float | None = None) -> list[list[str]]:
    rows = []
    for item in items:
        labels = item.get("Labels") or {}
        rows.append([(item.get("Names") or ["?"])[0].lstrip("/"), item.get("Image", ""),
                     _command(item), labels.get(L.SERVICE, ""),
                     created_ago(item.get("Created", 0), now), item.get("Status", ""),
                     ports_text(item.get("Ports") or [])])
    return rows


PS_HEADERS = ("NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS")


def ps_json(item: Mapping) -> str:
    labels = item.get("Labels") or {}
    health = ""
    status = item.get("Status", "")
    for word in ("healthy", "unhealthy", "starting"):
        if f"({word})" in status or f"(health: {word})" in status:
            health = word
            break
    return json.dumps({
        "ID": item.get("Id", "")[:12], "Name": (item.get("Names") or ["?"])[0].lstrip("/"),
        "Image": item.get("Image", ""), "Command": item.get("Command", ""),
        "Project": labels.get(L.PROJECT, ""), "Service": labels.get(L.SERVICE, ""),
        "Created": item.get("Created", 0), "State": item.get("State", ""),
        "Status": status, "Health": health, "ExitCode": _exit_code(status),
        "Labels": ",".join(f"{k}={v}" for k, v in labels.items()),
        "Publishers": [{"URL": p.get("IP", ""), "TargetPort": p.get("PrivatePort"),
                        "PublishedPort": p.get("PublicPort", 0), "Protocol": p.get("Type")}
                       for p in item.get("Ports") or []],
    })


def _exit_code(status: str) -> int:
    if status.startswith("Exited ("):
        try:
            return int(status[len("Exited ("):].split(")", 1)[0])
        except ValueError:
            return 0
    return 0


def matches_status(item: Mapping, statuses: Iterable[str]) -> bool:
    wanted = set(statuses)
    return not wanted or item.get("State", "") in wanted


def projects(items: Iterable[Mapping]) -> list[tuple[str, str, str]]:
    """(name, status like `running(2), exited(1)`, config files) per project, for `ls`."""
    found: dict[str, dict] = {}
    for item in items:
        labels = item.get("Labels") or {}
        name = labels.get(L.PROJECT)
        if not name:
            continue
        entry = found.setdefault(name, {"states": {}, "files": labels.get(L.CONFIG_FILES, "")})
        state = item.get("State", "")
        entry["states"][state] = entry["states"].get(state, 0) + 1
    return [(name, ", ".join(f"{s}({n})" for s, n in sorted(e["states"].items())), e["files"])
            for name, e in sorted(found.items())]


def human_size(size: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000:
            return f"{size:.3g}{unit}"
        size /= 1000
    return f"{size:.3g}TB"
