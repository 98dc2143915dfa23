"""Pure parsing of docker-style container flags into Docker Engine API values.

Every function takes the flag's text and returns API data, or raises `FlagError` (exit code 125,
like the docker CLI) whose one-line message names the flag and the value.
"""
from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping

from engine.durations import parse_go_duration
from engine.errors import BadParameter


class FlagError(BadParameter):
    """A flag value the CLI cannot use; exit code 125 as docker's CLI."""

    def __init__(self, flag: str, value: str, why: str) -> None:
        super().__init__(f'invalid value "{value}" for {flag}: {why}')
        self.flag = flag
        self.value = value


_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgtp])?(?:i?b)?$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_memory(value: str, flag: str = "--memory") -> int:
    """Docker's memory sizes: binary units, `512`, `32m`, `1.5g`, `64MiB`, `2GB` (all 1024-based)."""
    m = _SIZE.match(value.strip())
    if not m:
        raise FlagError(flag, value, "expected a size such as 512m or 1g")
    size = int(float(m.group(1)) * _UNITS[(m.group(2) or "").lower()])
    if size <= 0:
        raise FlagError(flag, value, "must be greater than zero")
    return size


def parse_memory_swap(value: str) -> int:
    """`--memory-swap`: memory + swap, or -1 for unlimited swap."""
    if value.strip() == "-1":
        return -1
    return parse_memory(value, "--memory-swap")


def parse_cpus(value: str) -> int:
    """`--cpus 0.5` -> NanoCpus 500000000."""
    try:
        cpus = float(value)
    except ValueError:
        raise FlagError("--cpus", value, "expected a number of CPUs such as 0.5 or 2") from None
    if not cpus > 0 or cpus != cpus or cpus > 1_000_000:
        raise FlagError("--cpus", value, "must be a positive number of CPUs")
    return round(cpus * 1e9)


def parse_int(value: str, flag: str, minimum: int | None = None) -> int:
    try:
        number = int(value)
    except ValueError:
        raise FlagError(flag, value, "expected an integer") from None
    if minimum is not None and number < minimum:
        raise FlagError(flag, value, f"must be at least {minimum}")
    return number


def parse_restart(value: str) -> dict:
    """`no`, `always`, `unless-stopped`, `on-failure[:N]` -> HostConfig.RestartPolicy."""
    name, _, count = value.partition(":")
    if name in ("no", "always", "unless-stopped"):
        if count:
            raise FlagError("--restart", value, f"{name} takes no retry count")
        return {"Name": "" if name == "no" else name, "MaximumRetryCount": 0}
    if name == "on-failure":
        retries = 0
        if count:
            if not count.isdigit():
                raise FlagError("--restart", value, "the retry count must be a whole number")
            retries = int(count)
        return {"Name": "on-failure", "MaximumRetryCount": retries}
    raise FlagError("--restart", value, "expected no, always, unless-stopped or on-failure[:N]")


_VOLUME_MODES = {"ro", "rw", "z", "Z", "nocopy", "private", "rprivate", "shared", "rshared",
                 "slave", "rslave", "consistent", "cached", "delegated"}
_VOLUME_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def parse_volume(value: str) -> tuple[str | None, str | None]:
    """`-v` spec -> (Binds entry, anonymous volume path); exactly one is set.

    `/ctr` is an anonymous volume; `name:/ctr[:opts]` a named volume; `/host:/ctr[:opts]` (or a
    relative `./dir`, made absolute by the caller) a bind mount.
    """
    parts = value.split(":")
    if len(parts) == 1:
        target = parts[0]
        if not target.startswith("/"):
            raise FlagError("--volume", value, "the container path must be absolute")
        return None, target
    if len(parts) > 3:
        raise FlagError("--volume", value, "expected [SOURCE:]TARGET[:OPTIONS]")
    source, target = parts[0], parts[1]
    mode = parts[2] if len(parts) == 3 else ""
    if not source:
        raise FlagError("--volume", value, "the source is empty")
    if not target.startswith("/"):
        raise FlagError("--volume", value, "the container path must be absolute")
    for option in filter(None, mode.split(",")):
        if option not in _VOLUME_MODES:
            raise FlagError("--volume", value, f"unknown option {option!r}")
    if mode and {"ro", "rw"} <= set(mode.split(",")):
        raise FlagError("--volume", value, "ro and rw are exclusive")
    if not source.startswith(("/", ".", "~")) and not _VOLUME_NAME.match(source):
        raise FlagError("--volume", value, "invalid volume name")
    return value, None


def parse_tmpfs(value: str) -> tuple[str, str]:
    """`--tmpfs /run[:size=64m,mode=1777]` -> (path, options) for HostConfig.Tmpfs."""
    path, _, options = value.partition(":")
    if not path.startswith("/"):
        raise FlagError("--tmpfs", value, "the container path must be absolute")
    return path, options


_PORT_PROTOS = ("tcp", "udp", "sctp")


def _port_range(text: str, flag_value: str) -> tuple[int, int]:
    first, sep, last = text.partition("-")
    try:
        lo = int(first)
        hi = int(last) if sep else lo
    except ValueError:
        raise FlagError("--publish", flag_value, f"invalid port {text!r}") from None
    if not (0 < lo <= hi <= 65535) and not (lo == 0 == hi and sep == ""):
        raise FlagError("--publish", flag_value, f"invalid port {text!r}")
    return lo, hi


def parse_publish(value: str) -> list[tuple[str, str, str]]:
    """`[ip:][hostPort:]containerPort[/proto]` (ports may be ranges) ->
    [(container "80/tcp", host ip, host port)]; host port "" = any free port."""
    spec, _, proto = value.partition("/")
    proto = proto or "tcp"
    if proto not in _PORT_PROTOS:
        raise FlagError("--publish", value, f"unknown protocol {proto!r}")
    host_ip = ""
    if spec.startswith("["):  # [::1]:8080:80
        end = spec.find("]")
        if end < 0 or spec[end + 1:end + 2] != ":":
            raise FlagError("--publish", value, "bad IPv6 address")
        host_ip, spec = spec[1:end], spec[end + 2:]
        parts = spec.split(":")
        if len(parts) == 1:
            parts = ["", parts[0]]
    else:
        parts = spec.split(":")
        if len(parts) == 3:
            host_ip, parts = parts[0], parts[1:]
        elif len(parts) > 3:
            raise FlagError("--publish", value, "expected [IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]")
    if host_ip:
        _check_ip("--publish", value, host_ip)
    container = parts[-1]
    host = parts[0] if len(parts) == 2 else ""
    if not container:
        raise FlagError("--publish", value, "the container port is missing")
    c_lo, c_hi = _port_range(container, value)
    if host:
        h_lo, h_hi = _port_range(host, value)
        if c_lo == c_hi and h_hi > h_lo:
            return [(f"{c_lo}/{proto}", host_ip, f"{h_lo}-{h_hi}")]
        if h_hi - h_lo != c_hi - c_lo:
            raise FlagError("--publish", value, "host and container port ranges differ in size")
        return [(f"{c}/{proto}", host_ip, str(h_lo + i))
                for i, c in enumerate(range(c_lo, c_hi + 1))]
    return [(f"{c}/{proto}", host_ip, "") for c in range(c_lo, c_hi + 1)]


def parse_expose(value: str) -> list[str]:
    port, _, proto = value.partition("/")
    proto = proto or "tcp"
    if proto not in _PORT_PROTOS:
        raise FlagError("--expose", value, f"unknown protocol {proto!r}")
    lo, hi = _port_range(port, value)
    return [f"{p}/{proto}" for p in range(lo, hi + 1)]


def _check_ip(flag: str, value: str, ip: str, version: int | None = None) -> str:
    import ipaddress

    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        raise FlagError(flag, value, f"{ip!r} is not an IP address") from None
    if version and address.version != version:
        raise FlagError(flag, value, f"expected an IPv{version} address")
    return str(address)


def parse_ip(value: str) -> str:
    return _check_ip("--ip", value, value, 4)


def parse_dns(value: str) -> str:
    return _check_ip("--dns", value, value)


def parse_add_host(value: str) -> str:
    """`host:ip` or `host=ip` (ip may be `host-gateway`) -> ExtraHosts entry `host:ip`."""
    sep = "=" if "=" in value else ":"
    host, _, ip = value.partition(sep)
    if not host or not ip:
        raise FlagError("--add-host", value, "expected HOST:IP")
    if ip != "host-gateway":
        ip = _check_ip("--add-host", value, ip.strip("[]"))
    return f"{host}:{ip}"


def parse_env(values: list[str], lookup: Callable[[str], str | None]) -> list[str]:
    """`-e K=V` as is; `-e K` takes K from the client's environment, or is dropped."""
    env = []
    for value in values:
        key, eq, _ = value.partition("=")
        if not key or key != key.strip() or any(c.isspace() for c in key):
            raise FlagError("--env", value, "invalid variable name")
        if eq:
            env.append(value)
        else:
            found = lookup(key)
            if found is not None:
                env.append(f"{key}={found}")
    return env


def parse_env_file(text: str, lookup: Callable[[str], str | None], filename: str = "") -> list[str]:
    """Docker's --env-file format: `K=V` per line, taken literally (no quotes, no expansion);
    a bare `K` takes the client's value; blank lines and `#` comments are skipped."""
    env = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        key, eq, value = line.partition("=")
        if not key or any(c.isspace() for c in key):
            where = f"{filename}:{number}" if filename else f"line {number}"
            raise FlagError("--env-file", filename or raw,
                            f"{where}: variable name {key!r} contains whitespace or is empty")
        if eq:
            env.append(f"{key}={value}")
        else:
            found = lookup(key)
            if found is not None:
                env.append(f"{key}={found}")
    return env


def parse_labels(values: list[str], flag: str = "--label") -> dict[str, str]:
    labels = {}
    for value in values:
        key, _, val = value.partition("=")
        if not key:
            raise FlagError(flag, value, "the label key is empty")
        labels[key] = val
    return labels


def parse_security_opt(value: str) -> str:
    """As docker's CLI: `seccomp=FILE` is sent as the file's (compacted) JSON; the daemon
    judges every other option."""
    name, _, setting = value.partition("=" if "=" in value else ":")
    if name == "no-new-privileges":
        if setting not in ("", "true", "false"):
            raise FlagError("--security-opt", value, "no-new-privileges takes true or false")
        return "no-new-privileges" if setting in ("", "true") else "no-new-privileges:false"
    if name == "seccomp" and setting not in ("unconfined", "builtin"):
        import json

        try:
            with open(os.path.expanduser(setting)) as f:
                profile = json.load(f)
        except OSError as e:
            raise FlagError("--security-opt", value,
                            f"opening seccomp profile failed: {e.strerror}") from None
        except ValueError as e:
            raise FlagError("--security-opt", value,
                            f"the seccomp profile is not JSON: {e}") from None
        return "seccomp=" + json.dumps(profile, separators=(",", ":"))
    return value


_SIGNALS = {"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "BUS": 7, "FPE": 8,
            "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15,
            "STKFLT": 16, "CHLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22,
            "URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29,
            "PWR": 30, "SYS": 31}


def parse_signal(value: str, flag: str = "--signal") -> str:
    """A signal name (`TERM`, `SIGTERM`) or number; returned in docker's canonical `SIGTERM` form
    (numbers stay numbers)."""
    text = value.strip().upper()
    if text.isdigit():
        if not 0 < int(text) <= 64:
            raise FlagError(flag, value, "no such signal")
        return text
    name = text[3:] if text.startswith("SIG") else text
    if name not in _SIGNALS and not re.match(r"^RTM(IN|AX)([+-]\d+)?$", name):
        raise FlagError(flag, value, "no such signal")
    return "SIG" + name


def signal_number(value: str) -> int:
    text = parse_signal(value)
    return int(text) if text.isdigit() else _SIGNALS.get(text[3:], 15)


def parse_duration(value: str, flag: str) -> float:
    """Go-style durations: `10s`, `1m30s`, `2h`, `1.5h` -> seconds."""
    try:
        return parse_go_duration(value.strip()) / 1e9
    except ValueError:
        raise FlagError(flag, value, "expected a duration such as 10s, 5m or 1h30m") from None


def parse_since(value: str, now: float, flag: str = "--since") -> float:
    """`--since`/`--until`: a unix timestamp, an RFC 3339 date/time, or a duration before now."""
    text = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    if re.fullmatch(r"[\d.]+(ns|us|µs|ms|s|m|h)([\d.]+(ns|us|µs|ms|s|m|h))*", text):
        return now - parse_duration(text, flag)
    from datetime import datetime, timezone

    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise FlagError(flag, value, "expected a timestamp, an RFC 3339 date or a duration") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


def parse_filters(values: list[str]) -> dict[str, list[str]]:
    """`--filter k=v` (repeatable) -> the API's {"k": ["v", ...]}."""
    filters: dict[str, list[str]] = {}
    for value in values:
        key, eq, val = value.partition("=")
        if not eq or not key:
            raise FlagError("--filter", value, "expected KEY=VALUE")
        filters.setdefault(key.strip(), []).append(val)
    return filters


def lookup_env(env: Mapping[str, str]) -> Callable[[str], str | None]:
    return env.get
