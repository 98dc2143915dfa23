"""Client side of builds: pack a context directory the way the docker CLI does, send it to
POST /build, and stream the engine's JSON messages back (for the CLI and compose `build:`).

The context tar holds what .dockerignore lets through, plus the Dockerfile and .dockerignore
themselves (the builder needs them even when they are ignored). A Dockerfile outside the
context is added under a generated name, as docker does.
"""
from __future__ import annotations

import base64
import json
import os
import secrets as secrets_mod
import tarfile
import tempfile
from pathlib import Path
from typing import IO, Iterator

from engine.build.context import BuildContext
from engine.client.streams import json_messages
from engine.errors import BadParameter

SECRETS_HEADER = "X-Pycompose-Build-Secrets"


def pack_context(directory: str | Path, dockerfile: str | None = None) -> tuple[IO[bytes], str]:
    """(tar file positioned at 0, Dockerfile path inside it). The caller closes the file."""
    root = Path(directory)
    if not root.is_dir():
        raise BadParameter(f"unable to prepare context: path {str(directory)!r} not found")
    context = BuildContext(root)
    name = dockerfile or "Dockerfile"
    outside: Path | None = None
    candidate = Path(name) if os.path.isabs(name) else root / name   # relative: to the context
    try:
        inside = candidate.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        inside = ""
        outside = candidate
    if outside is not None and not outside.is_file():
        raise BadParameter(f"Cannot locate specified Dockerfile: {name}")
    out = tempfile.TemporaryFile()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in context.walk(""):
            if entry.rel:
                tar.add(entry.path, arcname=entry.rel, recursive=False)
        for extra in (inside, ".dockerignore"):
            if extra and context.matcher.ignored(extra) and (root / extra).is_file():
                tar.add(root / extra, arcname=extra, recursive=False)
        if outside is not None:
            inside = f".pycompose-dockerfile-{secrets_mod.token_hex(6)}"
            tar.add(outside, arcname=inside, recursive=False)
    out.seek(0)
    return out, inside


def secrets_header(secrets: dict[str, bytes]) -> dict[str, str]:
    """Secret contents by id -> the header the engine reads them from."""
    if not secrets:
        return {}
    doc = {ident: base64.b64encode(data).decode() for ident, data in secrets.items()}
    return {SECRETS_HEADER: base64.b64encode(json.dumps(doc).encode()).decode()}


def parse_secret(spec: str) -> tuple[str, bytes]:
    """buildx's --secret syntax: `id=tok,src=./token.txt` or `id=tok,env=TOKEN` -> (id, data)."""
    fields = dict(part.split("=", 1) for part in spec.split(",") if "=" in part)
    ident = fields.get("id")
    if "env" in fields:
        value = os.environ.get(fields["env"])
        if value is None:
            raise BadParameter(f"secret {ident or fields['env']}: environment variable "
                               f"{fields['env']} is not set")
        return ident or fields["env"], value.encode()
    source = fields.get("src") or fields.get("source")
    if not ident or not source:
        raise BadParameter(f"invalid secret {spec!r} (expected id=ID,src=PATH or id=ID,env=VAR)")
    try:
        return ident, Path(source).read_bytes()
    except OSError as exc:
        raise BadParameter(f"secret {ident}: cannot read {source}: {exc.strerror}") from None


def build(client, directory: str | Path, *, dockerfile: str | None = None,
          tags: list[str] = (), build_args: dict[str, str] | None = None,
          target: str | None = None, no_cache: bool = False, pull: bool = False,
          labels: dict[str, str] | None = None, secrets: dict[str, bytes] | None = None
          ) -> Iterator[dict]:
    """Stream the build's JSON messages; an error message raises EngineError (after the
    messages before it were yielded)."""
    body, inside = pack_context(directory, dockerfile)
    params = {"t": list(tags) or None, "dockerfile": inside,
              "buildargs": json.dumps(build_args) if build_args else None,
              "target": target, "nocache": "1" if no_cache else None,
              "pull": "1" if pull else None,
              "labels": json.dumps(labels) if labels else None}
    headers = {"Content-Type": "application/x-tar", **secrets_header(secrets or {})}
    try:
        response = client.request("POST", "/build", params, body=body, headers=headers)
    finally:
        body.close()
    yield from json_messages(response)


def bootstrap(client, ref: str = "debian:bookworm", *, suite: str | None = None,
              mirror: str | None = None, include: list[str] = (), variant: str = "minbase",
              force: bool = False) -> Iterator[dict]:
    response = client.request("POST", "/pycompose/images/bootstrap", {
        "ref": ref, "suite": suite, "mirror": mirror, "include": list(include) or None,
        "variant": variant, "force": "1" if force else None})
    yield from json_messages(response)


