"""The short syntaxes of ports and volumes, read into compose-go's long form: one parser each
(`8080:80/udp`, `127.0.0.1:53:53`, ranges; `src:dst:ro`, anonymous, named and bind volumes)."""
from __future__ import annotations

import posixpath
import re
from typing import Any

from compose.errors import NormalizeError
from compose.merge import _split_short
from compose.values import ordered as _ordered, to_int as _to_int

# --- ports ------------------------------------------------------------------------------------

def _port_range(text: str, key: str) -> tuple[int, int]:
    lo, _, hi = text.partition("-")
    try:
        start, end = int(lo), int(hi or lo)
    except ValueError:
        raise NormalizeError(f"invalid port {text!r}", key) from None
    for port in (start, end):
        if not 0 <= port <= 65535:
            raise NormalizeError(f"port {port} is out of range 0-65535", key)
    if start > end:
        raise NormalizeError(f"invalid port range {text!r}", key)
    return start, end


def parse_port(spec: Any, key: str) -> list[dict]:
    """Short port syntax -> canonical long entries (one per port of a range)."""
    text = str(spec)
    text, _, proto = text.partition("/")
    proto = proto or "tcp"
    host_ip = ""
    if text.startswith("["):  # [::1]:8080:80
        end = text.find("]")
        host_ip, text = text[1:end], text[end + 2:]
        parts = text.split(":")
        published, target = (parts[0], parts[1]) if len(parts) == 2 else ("", parts[0])
    else:
        parts = text.split(":")
        if len(parts) == 1:
            published, target = "", parts[0]
        elif len(parts) == 2:
            published, target = parts
        elif len(parts) == 3:
            host_ip, published, target = parts
        else:  # bare IPv6 host ip
            host_ip, published, target = ":".join(parts[:-2]), parts[-2], parts[-1]
    t0, t1 = _port_range(target, key)
    entries = []
    if published:
        p0, p1 = _port_range(published, key)
        if t1 - t0 == 0 and p1 - p0 > 0:
            pairs = [(t0, published)]
        elif p1 - p0 != t1 - t0:
            raise NormalizeError(f"invalid port range {spec!r}: host and container ranges differ", key)
        else:
            pairs = [(t, str(p0 + i)) for i, t in enumerate(range(t0, t1 + 1))]
    else:
        pairs = [(t, None) for t in range(t0, t1 + 1)]
    for target_port, pub in pairs:
        entry: dict = {"mode": "ingress"}
        if host_ip:
            entry["host_ip"] = host_ip
        entry["target"] = target_port
        if pub is not None:
            entry["published"] = pub
        entry["protocol"] = proto
        entries.append(entry)
    return entries


def _long_port(item: dict, key: str) -> dict:
    if item.get("target") in (None, ""):
        raise NormalizeError("port target is required", key)
    entry: dict = {}
    for k in ("name", "mode", "host_ip", "target", "published", "protocol", "app_protocol"):
        if item.get(k) not in (None, ""):
            entry[k] = item[k]
    entry.setdefault("mode", "ingress")
    entry["target"] = _to_int(item.get("target"), key)
    if "published" in entry:
        entry["published"] = str(entry["published"])
    entry.setdefault("protocol", "tcp")
    return _ordered(entry, ("name", "mode", "host_ip", "target", "published", "protocol", "app_protocol"))


# --- volumes ----------------------------------------------------------------------------------

_PROPAGATION = {"shared", "rshared", "slave", "rslave", "private", "rprivate"}


def _is_bind_source(src: str) -> bool:
    return src.startswith((".", "/", "~", "\\\\")) or bool(re.match(r"^[A-Za-z]:[\\/]", src))


def parse_volume(spec: str, key: str) -> dict:
    parts = _split_short(spec)
    if "" in parts:
        raise NormalizeError(f"invalid spec: {spec}: empty section between colons", key)
    if len(parts) == 1:
        return {"type": "volume", "target": posixpath.normpath(parts[0]), "volume": {}}
    if len(parts) > 3:
        raise NormalizeError(f"invalid volume specification: {spec!r}", key)
    source, target = parts[0], parts[1]
    options = parts[2].split(",") if len(parts) == 3 else []
    if not target.startswith("/") and not re.match(r"^[A-Za-z]:", target):
        raise NormalizeError(f"invalid volume specification: {spec!r}: target must be an absolute path", key)
    bind = _is_bind_source(source)
    entry: dict = {"type": "bind" if bind else "volume", "source": source,
                   "target": posixpath.normpath(target)}
    sub: dict = {"create_host_path": True} if bind else {}
    for opt in options:
        if opt == "ro":
            entry["read_only"] = True
        elif opt == "nocopy" and not bind:
            sub["nocopy"] = True
        elif opt in ("z", "Z") and bind:
            sub["selinux"] = opt
        elif opt in _PROPAGATION and bind:
            sub["propagation"] = opt
    entry["bind" if bind else "volume"] = sub
    return entry
