"""Metadata-only instructions (pure): how ENV, LABEL, WORKDIR, USER, EXPOSE, CMD, ENTRYPOINT,
VOLUME, STOPSIGNAL, SHELL, ONBUILD, MAINTAINER and HEALTHCHECK change an image config.

`apply(config, instr, ...)` returns the new config and the history text; nothing here touches
the store or the filesystem, so every rule is unit-tested directly.
"""
from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass

from engine.build import dockerfile as df
from engine.durations import parse_go_duration

DEFAULT_SHELL = ("/bin/sh", "-c")


@dataclass(frozen=True)
class Applied:
    config: dict
    created_by: str          # the history line
    cmd_set: bool            # CMD given in this stage so far (ENTRYPOINT then keeps it)


def apply(config: dict, instr: df.Instruction, env: dict[str, str], *, cmd_set: bool = False,
          escape: str = "\\", filename: str = "Dockerfile") -> Applied:
    """`config` after one metadata instruction (a changed copy; the input is not modified)."""
    config = json.loads(json.dumps(config))
    cmd = instr.cmd

    def fail(message: str) -> df.DockerfileError:
        return df.DockerfileError(message, filename=filename, line=instr.line)

    def word() -> str:
        return df.expand_word(instr.text, env, escape=escape, line=instr.line, filename=filename)

    def words() -> list[str]:
        return df.expand_words(instr.text, env, escape=escape, line=instr.line,
                               filename=filename)

    if cmd in ("ENV", "LABEL"):
        pairs = df.key_values(instr, env, escape=escape, filename=filename)
        if cmd == "ENV":
            current = dict(item.partition("=")[::2] for item in config.get("Env") or [])
            current.update(pairs)
            config["Env"] = [f"{k}={v}" for k, v in current.items()]
        else:
            config["Labels"] = {**(config.get("Labels") or {}), **dict(pairs)}
        return Applied(config, f"{cmd} " + " ".join(f"{k}={v}" for k, v in pairs), cmd_set)
    if cmd == "WORKDIR":
        config["WorkingDir"] = posixpath.normpath(
            posixpath.join(config.get("WorkingDir") or "/", word()))
        return Applied(config, f"WORKDIR {config['WorkingDir']}", cmd_set)
    if cmd in ("CMD", "ENTRYPOINT"):
        key = "Cmd" if cmd == "CMD" else "Entrypoint"
        config[key] = command(config, instr)
        if cmd == "ENTRYPOINT" and not cmd_set:
            config.pop("Cmd", None)   # Docker: ENTRYPOINT resets an inherited CMD
        return Applied(config, f"{cmd} {json.dumps(config[key])}", cmd_set or cmd == "CMD")
    shown = instr.text
    if cmd == "USER":
        config["User"] = shown = word()
    elif cmd == "EXPOSE":
        ports = dict(config.get("ExposedPorts") or {})
        for port in words():
            port = port if "/" in port else f"{port}/tcp"
            number, _, proto = port.partition("/")
            if not re.fullmatch(r"\d+(-\d+)?", number) or proto not in ("tcp", "udp", "sctp"):
                raise fail(f"invalid containerPort: {port}")
            ports[port] = {}
        config["ExposedPorts"] = ports
        shown = " ".join(ports)
    elif cmd == "VOLUME":
        paths = list(instr.exec_form) if instr.exec_form is not None else words()
        if not all(paths):
            raise fail("VOLUME specified can not be an empty string")
        config["Volumes"] = {**(config.get("Volumes") or {}), **{p: {} for p in paths}}
    elif cmd == "STOPSIGNAL":
        config["StopSignal"] = shown = word()
    elif cmd == "SHELL":
        config["Shell"] = list(instr.exec_form or ())
    elif cmd == "ONBUILD":
        config["OnBuild"] = [*(config.get("OnBuild") or []), instr.text]
    elif cmd == "HEALTHCHECK":
        config["Healthcheck"] = healthcheck(instr, fail)
    elif cmd != "MAINTAINER":   # MAINTAINER (deprecated) only leaves a history line
        raise fail(f"{cmd} is not a metadata instruction")
    return Applied(config, f"{cmd} {shown}", cmd_set)


def command(config: dict, instr: df.Instruction) -> list[str]:
    """CMD / ENTRYPOINT: the JSON form as is, the shell form wrapped in the current SHELL."""
    if instr.exec_form is not None:
        return list(instr.exec_form)
    if not instr.text:
        return []
    return [*(config.get("Shell") or DEFAULT_SHELL), instr.text]


def healthcheck(instr: df.Instruction, fail) -> dict:
    kind, _, rest = instr.text.partition(" ")
    if kind.upper() == "NONE":
        return {"Test": ["NONE"]}
    rest = rest.strip()
    exec_form = df._json_args(rest)
    check: dict = {"Test": ["CMD", *exec_form] if exec_form is not None else ["CMD-SHELL", rest]}
    names = {"interval": "Interval", "timeout": "Timeout", "start-period": "StartPeriod",
             "start-interval": "StartInterval"}
    for flag, key in names.items():
        raw = instr.flag(flag)
        if raw is not None:
            check[key] = duration(raw, fail, flag)
    retries = instr.flag("retries")
    if retries is not None:
        if not retries.isdigit() or int(retries) < 1:
            raise fail("--retries must be at least 1")
        check["Retries"] = int(retries)
    return check


def duration(text: str, fail, flag: str) -> int:
    """A Go duration ("30s", "1m30s", "500ms") -> nanoseconds; a negative one is refused too
    (no interval or timeout can be)."""
    try:
        ns = parse_go_duration(text)
    except ValueError:
        ns = -1
    if ns < 0:
        raise fail(f"invalid duration for --{flag}: {text!r}")
    return ns
