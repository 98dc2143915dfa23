"""`docker import --change` / `docker commit --change` instructions applied to a config (pure).

Each change is one Dockerfile instruction (`CMD ["/bin/sh"]`, `ENV A=b`, `EXPOSE 80/udp`, ...).
The result is a new OCI "config" object; the input is never mutated.
"""
from __future__ import annotations

import json
import posixpath
import re
import shlex

from engine.errors import BadParameter

SUPPORTED = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "STOPSIGNAL", "USER",
             "VOLUME", "WORKDIR")
_PORT = re.compile(r"(\d{1,5})(?:-(\d{1,5}))?(?:/(tcp|udp|sctp))?", re.IGNORECASE)


def _json_list(text: str) -> list[str] | None:
    """The JSON ("exec") form, or None when `text` is not a JSON array of strings."""
    if not text.startswith("["):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def _command(text: str, shell: list[str]) -> list[str]:
    exec_form = _json_list(text)
    return exec_form if exec_form is not None else [*shell, text]


def _words(change: str, text: str) -> list[str]:
    try:
        return shlex.split(text, posix=True)
    except ValueError as exc:
        raise BadParameter(f"invalid change {change!r}: {exc}") from None


def _pairs(change: str, instruction: str, text: str) -> list[tuple[str, str]]:
    """`A=b C="d e"`, or the legacy single pair `A b c` (ENV) / `k v` (LABEL)."""
    words = _words(change, text)
    if not words:
        raise BadParameter(f"invalid change {change!r}: {instruction} needs an argument")
    if "=" not in words[0]:
        if len(words) < 2:
            raise BadParameter(f"invalid change {change!r}: {instruction} needs a value")
        legacy = text.strip().split(None, 1)
        return [(legacy[0], legacy[1])]
    pairs = []
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise BadParameter(f"invalid change {change!r}: expected KEY=VALUE, got {word!r}")
        pairs.append((key, value))
    return pairs


def _ports(change: str, text: str) -> list[str]:
    ports = []
    for word in _words(change, text):
        match = _PORT.fullmatch(word)
        if not match:
            raise BadParameter(f"invalid change {change!r}: bad port {word!r}")
        low = int(match.group(1))
        high = int(match.group(2) or low)
        proto = (match.group(3) or "tcp").lower()
        if not 0 < low <= high <= 65535:
            raise BadParameter(f"invalid change {change!r}: bad port range {word!r}")
        ports.extend(f"{port}/{proto}" for port in range(low, high + 1))
    return ports


def apply_changes(config: dict, changes: list[str] | tuple[str, ...]) -> dict:
    """A copy of `config` with each change applied in order; a bad one raises BadParameter."""
    result = json.loads(json.dumps(config))  # deep copy of plain JSON data
    shell = result.get("Shell") or ["/bin/sh", "-c"]
    for change in changes:
        stripped = change.strip()
        instruction, _, rest = stripped.partition(" ")
        instruction, rest = instruction.upper(), rest.strip()
        if instruction not in SUPPORTED:
            raise BadParameter(f"invalid change {change!r}: {instruction or 'empty'} is not one "
                               f"of {', '.join(SUPPORTED)}")
        if not rest:
            raise BadParameter(f"invalid change {change!r}: {instruction} needs an argument")
        if instruction == "CMD":
            result["Cmd"] = _command(rest, shell)
        elif instruction == "ENTRYPOINT":
            result["Entrypoint"] = _command(rest, shell)
        elif instruction == "ENV":
            env = [e for e in (result.get("Env") or [])]
            for key, value in _pairs(change, instruction, rest):
                env = [e for e in env if e.partition("=")[0] != key] + [f"{key}={value}"]
            result["Env"] = env
        elif instruction == "LABEL":
            labels = dict(result.get("Labels") or {})
            labels.update(_pairs(change, instruction, rest))
            result["Labels"] = labels
        elif instruction == "EXPOSE":
            exposed = dict(result.get("ExposedPorts") or {})
            exposed.update({port: {} for port in _ports(change, rest)})
            result["ExposedPorts"] = exposed
        elif instruction == "VOLUME":
            paths = _json_list(rest)
            if paths is None:
                paths = _words(change, rest)
            volumes = dict(result.get("Volumes") or {})
            for path in paths:
                if not path:
                    raise BadParameter(f"invalid change {change!r}: empty volume path")
                volumes[path] = {}
            result["Volumes"] = volumes
        elif instruction == "WORKDIR":
            result["WorkingDir"] = posixpath.normpath(
                posixpath.join(result.get("WorkingDir") or "/", rest))
        elif instruction == "USER":
            result["User"] = rest
        elif instruction == "STOPSIGNAL":
            if not re.fullmatch(r"(SIG)?[A-Z0-9+-]+|\d+", rest):
                raise BadParameter(f"invalid change {change!r}: bad signal {rest!r}")
            result["StopSignal"] = rest
        elif instruction == "ONBUILD":
            result["OnBuild"] = [*(result.get("OnBuild") or []), rest]
    return result
