"""Compose's scalar values as compose-go reads and prints them: sizes, durations, booleans,
numbers in string maps, `K=V` lists, extra hosts. Pure functions; ValueError on bad input (the
caller knows the key)."""
from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any, Callable

from compose.errors import NormalizeError
from engine.durations import parse_go_duration

_UNITS = {"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_bytes(value: Any) -> int:
    """`256m`, `1g`, `512kb`, `1.5GiB`, 1024 -> bytes (Docker's RAMInBytes, binary units)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"invalid size: {value!r} (must not be negative)")
        return value
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([bkmgtBKMGT]?)(?:i?[bB])?\s*", str(value))
    if not m:
        raise ValueError(f"invalid size: {value!r}")
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "b").lower()])


def parse_duration(value: Any) -> int:
    """Go duration text (`1m30s`, `500ms`) -> nanoseconds; an empty value is none (0)."""
    text = str(value).strip()
    if not text:
        return 0
    try:
        return parse_go_duration(text)
    except ValueError:
        raise ValueError(f"invalid duration: {value!r}") from None


def format_duration(ns: int) -> str:
    """Nanoseconds -> Go's time.Duration.String() (`1m0s`, `1.5s`, `500ms`)."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 10**9:
        for unit, size in (("ms", 10**6), ("µs", 10**3), ("ns", 1)):
            if ns >= size:
                return sign + _trim(ns / size) + unit
    h, rest = divmod(ns, 3600 * 10**9)
    m, rest = divmod(rest, 60 * 10**9)
    s = _trim(rest / 10**9) + "s"
    if h:
        return f"{sign}{h}h{m}m{s}"
    if m:
        return f"{sign}{m}m{s}"
    return sign + s


def _trim(x: float) -> str:
    return f"{x:.9f}".rstrip("0").rstrip(".")


_TRUE = {"true", "yes", "y", "on", "1"}


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in _TRUE



def go_float(value: float) -> str:
    """A float as Go's strconv.FormatFloat(f, 'g', -1, 64) prints it: the shortest digits that
    read back the same, in exponent form below 1e-4 and from 1e6 (`1`, `1.5`, `1e+06`, `+Inf`)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    sign, digits, exponent = Decimal(repr(value)).as_tuple()
    prefix = "-" if sign else ""
    text = "".join(map(str, digits)).rstrip("0") or "0"
    exponent += len(digits) - len(text)            # the zeros we cut off
    if text == "0":
        return prefix + "0"
    point = len(text) + exponent                   # where the decimal point goes
    exp = point - 1
    if exp < -4 or exp >= 6:   # strconv.FormatFloat(f, "g", -1, 64) switches at 6 digits
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{text}"
    if point >= len(text):
        return prefix + text + "0" * (point - len(text))
    return f"{prefix}{text[:point]}.{text[point:]}"


def go_number(value: float) -> float | int:
    """A float as Go's JSON prints it: a whole number without a fraction (cpus: 1, not 1.0)."""
    return int(value) if value.is_integer() else value


def go_text(value: Any) -> str:
    """A scalar in a string map (environment, labels…) as compose-go turns it into a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_float(value)
    return str(value)


def kv_mapping(value: Any, resolve: Callable[[str], Any] | None, missing: Any = None) -> dict:
    """`K=V` list or mapping -> mapping of strings. A bare `K` takes resolve(K) when there is a
    resolver (None if unset), else `missing`."""
    out: dict = {}
    if isinstance(value, dict):
        for k, v in value.items():
            if v is None:
                out[str(k)] = resolve(str(k)) if resolve else missing
            else:
                out[str(k)] = go_text(v)
        return out
    for item in value or []:
        k, eq, v = str(item).partition("=")
        out[k] = v if eq else (resolve(k) if resolve else missing)
    return out


def extra_hosts(value: Any) -> list[str]:
    """`host=ip`, one entry per address: `host:ip`, `host=ip1,ip2`, `host:[::1]` and the mapping
    form all come out as compose-go prints them. ValueError for an entry without an address."""
    pairs: list[tuple[str, str]] = []
    if isinstance(value, dict):
        for host, ips in value.items():
            for ip in ips if isinstance(ips, list) else [ips]:
                pairs.append((str(host), str(ip)))
    else:
        for entry in value:
            text = str(entry)
            # `=` is the separator when present (IPv6 addresses contain ':'), else the first ':'
            host, sep, ips = text.partition("=") if "=" in text else text.partition(":")
            if not sep or not ips:
                raise ValueError(f"invalid additional host, missing IP: {text}")
            pairs += [(host, ip) for ip in ips.split(",")]
    # compose-go keeps them in a map: printed sorted
    return sorted(f"{host}={_unbracket(ip.strip())}" for host, ip in pairs)


def _unbracket(ip: str) -> str:
    return ip[1:-1] if ip.startswith("[") and ip.endswith("]") else ip


def ordered(mapping: dict, order) -> dict:
    rank = {k: i for i, k in enumerate(order)}
    return dict(sorted(mapping.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])))


def to_int(value: Any, key: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise NormalizeError(f"{value!r} is not an integer", key) from None


# --- service values as compose-go prints them --------------------------------------------------

# service attributes printed even when empty or zero (compose-go pointers, and an empty command,
# which is not the image's command)
KEPT_WHEN_EMPTY = frozenset({"command", "entrypoint", "logging", "healthcheck", "networks",
                              "scale", "init", "attach", "stop_grace_period"})
BYTE_FIELDS = frozenset({"mem_limit", "mem_reservation", "memswap_limit", "shm_size"})


def go_empty(key: str, value: Any) -> bool:
    """What compose-go leaves out of a service (`omitempty`): "", 0, [], {} and "0" bytes."""
    if key in KEPT_WHEN_EMPTY or isinstance(value, bool):
        return False
    return value in ("", 0, [], {}) or (key in BYTE_FIELDS and value == "0")
# service booleans compose-go prints only when true (`omitempty`); `init` is a pointer: kept
OMITTED_WHEN_FALSE = frozenset({"privileged", "read_only", "tty", "stdin_open", "oom_kill_disable"})

# Service attribute order of compose-go's ServiceConfig, which `config` output follows.
SERVICE_ORDER = (
    "profiles annotations attach build develop blkio_config cap_add cap_drop cgroup_parent cgroup "
    "cpu_count cpu_percent cpu_period cpu_quota cpu_rt_period cpu_rt_runtime cpus cpuset "
    "cpu_shares command configs container_name credential_spec depends_on deploy "
    "device_cgroup_rules devices dns dns_opt dns_search domainname entrypoint provider "
    "environment env_file expose extends external_links extra_hosts group_add gpus hostname "
    "healthcheck image init ipc isolation labels label_file links logging mem_limit "
    "mem_reservation memswap_limit mem_swappiness mac_address models network_mode networks "
    "oom_kill_disable oom_score_adj pid pids_limit platform ports privileged pull_policy "
    "pull_refresh_after read_only restart runtime scale secrets security_opt shm_size stdin_open "
    "stop_grace_period stop_signal storage_opt sysctls tmpfs tty ulimits use_api_socket user "
    "userns_mode uts volumes volumes_from working_dir post_start pre_start pre_stop").split()
# service attributes that are Go maps in compose-go, hence printed sorted by key
_MAP_FIELDS = ("environment", "labels", "annotations", "sysctls", "depends_on", "networks",
               "ulimits", "storage_opt", "models")


def print_form(svc: dict) -> dict:
    """A normalized service as compose-go prints it: Go maps sorted by key, empty values left
    out (`omitempty`), attributes in ServiceConfig's order."""
    for k in _MAP_FIELDS:
        if isinstance(svc.get(k), dict):
            svc[k] = dict(sorted(svc[k].items()))
    for k in [k for k, v in svc.items() if go_empty(k, v)]:
        del svc[k]
    if isinstance(svc.get("build"), dict):
        for k in ("args", "labels", "additional_contexts"):
            if isinstance(svc["build"].get(k), dict):
                svc["build"][k] = dict(sorted(svc["build"][k].items()))
    return ordered(svc, SERVICE_ORDER)


def device(value: Any, key: str) -> dict:
    """devices: `src[:dst[:perms]]` -> {source, target, permissions}, as compose-go prints it."""
    if isinstance(value, dict):
        return dict(value)
    parts = str(value).split(":")
    if not parts[0] or len(parts) > 3:
        raise NormalizeError(f"invalid device: {value}", key)
    source = parts[0]
    target = parts[1] if len(parts) > 1 and parts[1] else source
    return {"source": source, "target": target,
            "permissions": parts[2] if len(parts) > 2 else "rwm"}


def is_remote(ref: str) -> bool:
    return bool(re.match(r"^([a-z][a-z0-9+.-]*://|git@|github\.com/)", ref))


def blkio(config: dict, key: str) -> dict:
    """blkio_config: byte rates as byte counts, iops as numbers, both printed as strings."""
    config = dict(config)
    for field in ("device_read_bps", "device_write_bps", "device_read_iops", "device_write_iops"):
        entries = []
        for i, entry in enumerate(config.get(field) or []):
            entry = dict(entry)
            try:
                entry["rate"] = str(parse_bytes(entry["rate"]) if field.endswith("bps")
                                    else int(entry["rate"]))
            except (KeyError, ValueError):
                raise NormalizeError(f"invalid rate {entry.get('rate')!r}", f"{key}.{field}[{i}]") from None
            entries.append(entry)
        if field in config:
            config[field] = entries
    return ordered(config, ("weight", "weight_device", "device_read_bps", "device_read_iops",
                             "device_write_bps", "device_write_iops"))


def gpus(value: Any) -> list[dict]:
    """gpus: `all` is every device (count -1), as is `count: all`; a count as text is a number."""
    if value == "all":
        return [{"count": -1}]
    out = []
    for item in value or []:
        item = dict(item)
        if "count" in item:
            item["count"] = -1 if str(item["count"]) == "all" else int(item["count"])
        out.append(item)
    return out


def file_mode(value: Any, key: str) -> int:
    """File modes: an int as written (YAML reads 0440 as octal), or a string read as octal
    ("0440", "440"), as compose-go's FileMode does."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return int(str(value), 8)
    except ValueError:
        raise NormalizeError(f"invalid file mode {value!r}: expected an octal number like 0440", key) from None
