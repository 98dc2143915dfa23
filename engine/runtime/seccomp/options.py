"""HostConfig.SecurityOpt, read the way Docker's daemon reads it. Pure.

Accepted: `no-new-privileges[=|:bool]`, `seccomp=unconfined|builtin|<profile JSON>` (the docker
CLI and Compose send a file's content, not its path), `label=...` and `disable` (SELinux labels:
accepted and without effect, as on a Docker host without SELinux), `apparmor=...` (accepted and
ignored: this engine applies no AppArmor profile; inspect's AppArmorProfile stays ""),
`writable-cgroups[=bool]` (accepted; the container's cgroup file system is not mounted anyway).
Anything else is refused with Docker's one-line message.
"""
from __future__ import annotations

from dataclasses import dataclass

from engine.errors import BadParameter

_TRUE = ("1", "t", "T", "true", "TRUE", "True")
_FALSE = ("0", "f", "F", "false", "FALSE", "False")


@dataclass(frozen=True)
class SecurityOptions:
    no_new_privileges: bool = False
    seccomp: str = ""       # "" (Docker's default), "unconfined", "builtin" or a profile's JSON
    apparmor: str = ""      # recorded only
    labels: tuple[str, ...] = ()


def _bool(value: str, opt: str) -> bool:
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise BadParameter(f"invalid --security-opt 2: {_shown(opt)}")


def _shown(opt: str) -> str:
    """The option as a message shows it: a profile's JSON is cut to one short line."""
    text = " ".join(opt.split())
    return f'"{text[:60]}..."' if len(text) > 63 else f'"{text}"'


def parse_security_opts(opts: tuple[str, ...] | list[str]) -> SecurityOptions:
    nnp, seccomp, apparmor, labels = False, "", "", []
    for opt in opts:
        if opt == "no-new-privileges":
            nnp = True
            continue
        if opt in ("writable-cgroups", "disable"):
            if opt == "disable":
                labels.append(opt)
            continue
        if "=" in opt:
            key, _, value = opt.partition("=")
        elif ":" in opt:  # Docker's old separator, still accepted
            key, _, value = opt.partition(":")
        else:
            raise BadParameter(f"invalid --security-opt 1: {_shown(opt)}")
        if key == "label":
            labels.append(value)
        elif key == "apparmor":
            apparmor = value
        elif key == "seccomp":
            seccomp = value
        elif key == "no-new-privileges":
            nnp = _bool(value, opt)
        elif key == "writable-cgroups":
            _bool(value, opt)
        else:
            raise BadParameter(f"invalid --security-opt 2: {_shown(opt)}")
    return SecurityOptions(nnp, seccomp, apparmor, tuple(labels))


def check_security_opts(opts: tuple[str, ...] | list[str]) -> SecurityOptions:
    """parse_security_opts, and a custom seccomp profile compiled once so that a bad one is a
    400 at create rather than a failed start."""
    parsed = parse_security_opts(opts)
    if parsed.seccomp not in ("", "builtin", "unconfined"):
        from engine.runtime.seccomp import cache  # the compiler only when a profile came along

        cache.check_profile(parsed.seccomp)
    return parsed
