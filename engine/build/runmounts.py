"""`RUN --mount=...` (BuildKit's syntax; Docker's classic builder has none): what each mount of a
RUN step binds where. Secrets come from the build's secret files, cache mounts from a
directory per id below the builder's state root, tmpfs from nothing."""
from __future__ import annotations

import hashlib
import posixpath
from pathlib import Path

from engine.build import dockerfile as df
from engine.runtime.spec import Mount


def run_mounts(instr: df.Instruction, filename: str, secrets: dict[str, str],
               cache_root: Path) -> list[Mount]:
    """The mounts of one RUN; raises DockerfileError naming the line for a bad one. A
    secret that is not given and not `required` is left out, as BuildKit does."""
    mounts: list[Mount] = []
    for raw in instr.flag_all("mount"):
        opts = df.parse_mount(raw, instr.line, filename)
        mount = _one(instr, filename, opts, secrets, cache_root)
        if mount is not None:
            mounts.append(mount)
    return mounts


def _fail(instr: df.Instruction, filename: str, message: str) -> df.DockerfileError:
    return df.DockerfileError(message, filename=filename, line=instr.line)


def _one(instr: df.Instruction, filename: str, opts: dict[str, str],
         secrets: dict[str, str], cache_root: Path) -> Mount | None:
    kind = opts["type"]
    target = opts.get("target")
    if kind == "secret":
        ident = opts.get("id") or posixpath.basename(target or "")
        if not ident:
            raise _fail(instr, filename, "secret mount needs an id or a target")
        source = secrets.get(ident)
        if source is None:
            if opts.get("required", "false").lower() in ("true", "1"):
                raise _fail(instr, filename, f"secret {ident} not found")
            return None
        return Mount(target=target or f"/run/secrets/{ident}", source=str(source),
                     readonly=True)
    if kind == "cache":
        if not target:
            raise _fail(instr, filename, "cache mount needs a target")
        ident = opts.get("id") or target
        source = cache_root / hashlib.sha256(ident.encode()).hexdigest()[:24]
        source.mkdir(parents=True, exist_ok=True)
        return Mount(target=target, source=str(source))
    if kind == "tmpfs":
        if not target:
            raise _fail(instr, filename, "tmpfs mount needs a target")
        return Mount(target=target, type="tmpfs")
    raise _fail(instr, filename, f"RUN --mount=type={kind} is not supported (secret, cache "
                "and tmpfs are)")
